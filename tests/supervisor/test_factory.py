"""`--app module:create_app(...)` (appspec): the factory is called in every child, warm or cold,
with its literal arguments; and every app child runs the warm-up request before it says ready."""

import pytest

from devbox.supervisor import protocol
from tests.supervisor.conftest import http_get

FACTORY_APP = """
import os
VERSION = %(version)r
LOG = %(log)r

def create_app(greeting="hello", debug=False):
    with open(LOG, "a") as f:
        f.write("factory %%d\\n" %% os.getpid())
    def app(environ, start_response):
        if environ.get("HTTP_USER_AGENT") == "devbox-warm-up":
            with open(LOG, "a") as f:
                f.write("warm-up %%d\\n" %% os.getpid())
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [("%%s %%s %%s %%d" %% (VERSION, greeting, debug, os.getpid())).encode()]
    return app
"""


def write_factory(root, version, log):
    (root / "app.py").write_text(FACTORY_APP % {"version": version, "log": str(log)})


def calls(log):
    return [tuple(line.split()) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.parametrize("warm", [True, False], ids=["warm", "cold"])
def test_a_factory_is_called_with_its_arguments_in_every_child(tmp_path, supervisor, warm):
    log = tmp_path / "calls.log"
    write_factory(tmp_path, "v1", log)
    sup = supervisor(["--app", "app:create_app('hi', debug=True)", "--port", "0"]
                     + ([] if warm else [protocol.FLAG_NO_WARM]))
    first = sup.wait_event(protocol.EVENT_READY, generation=1)["pid"]
    assert http_get(sup.port) == (200, "v1 hi True %d" % first)
    write_factory(tmp_path, "v2", log)
    second = sup.reload()["pid"]
    assert http_get(sup.port) == (200, "v2 hi True %d" % second)
    # Each child: the factory once, then the warm-up request, all before it said ready.
    assert calls(log) == [("factory", str(first)), ("warm-up", str(first)),
                          ("factory", str(second)), ("warm-up", str(second))]


def test_the_warm_up_request_can_be_turned_off(tmp_path, supervisor):
    log = tmp_path / "calls.log"
    write_factory(tmp_path, "v1", log)
    sup = supervisor(["--app", "app:create_app()", "--port", "0"],
                     env={protocol.ENV_WARM_UP: protocol.WARM_UP_OFF})
    pid = sup.wait_event(protocol.EVENT_READY, generation=1)["pid"]
    assert http_get(sup.port) == (200, "v1 hello False %d" % pid)
    assert calls(log) == [("factory", str(pid))]
