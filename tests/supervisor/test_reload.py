"""Reloading the wsgiref child: SIGHUP, exit 3, --poll-modules, and the child's environment."""

import json
import signal
import threading

from devbox.supervisor import protocol
from tests.supervisor.conftest import http_get, write_app
from tests.waiting import wait_until

ENV_APP = """
import json, signal
SIGINT_AT_IMPORT = str(signal.getsignal(signal.SIGINT))
def app(environ, start_response):
    names = ['BOTTLE_CHILD', 'LOCK_FILE', 'BOTTLE_LOCKFILE', 'DEVBOX_LISTEN_FD', 'LISTEN_FDS',
             'LISTEN_PID', 'PYTHONUNBUFFERED']
    seen = {name: os.environ.get(name) for name in names}
    seen.update(pid=os.getpid(), sigint=SIGINT_AT_IMPORT)
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps(seen).encode()]
"""


def test_sighup_serves_new_code(tmp_path, supervisor):
    write_app(tmp_path, "v1")
    sup = supervisor(["--app", "app:app", "--port", "0"])
    first = sup.wait_event(protocol.EVENT_READY, generation=1)
    assert http_get(sup.port) == (200, "v1")

    write_app(tmp_path, "v2")  # same size, same second: must not load the old bytecode
    ready = sup.reload()
    assert ready["pid"] != first["pid"]
    assert http_get(sup.port) == (200, "v2")
    assert sup.wait_event(protocol.EVENT_RELOADING, generation=2)["reason"] == "sighup"
    status = sup.status()
    assert status["state"] == protocol.STATE_SERVING
    assert status["generation"] == 2 and status["reloads"] == 1
    assert status["child_pid"] == ready["pid"]
    assert status["last_reload_ms"] == [ready["ms"]]
    assert status["app"] == "app:app"


def test_child_gets_the_contract_environment(tmp_path, supervisor):
    (tmp_path / "envapp.py").write_text("import os\n" + ENV_APP)
    sup = supervisor(["--app", "envapp:app", "--port", "0"])
    ready = sup.wait_event(protocol.EVENT_READY, generation=1)
    seen = json.loads(http_get(sup.port)[1])
    assert seen["BOTTLE_CHILD"] == "true"
    assert seen["LOCK_FILE"] == seen["BOTTLE_LOCKFILE"] == str(sup.lock_file)
    assert seen["DEVBOX_LISTEN_FD"] == "3" and seen["LISTEN_FDS"] == "1"
    assert seen["LISTEN_PID"] == str(seen["pid"]) == str(ready["pid"])
    assert seen["PYTHONUNBUFFERED"] == "1"


def test_exit_3_respawns_at_once(tmp_path, supervisor):
    marker = tmp_path / "exit3-once"
    write_app(tmp_path, "v1", extra=(
        "if os.path.exists(%r):\n    os.remove(%r)\n    os._exit(3)\n" % (str(marker),
                                                                        str(marker))))
    sup = supervisor(["--app", "app:app", "--port", "0"])
    sup.wait_event(protocol.EVENT_READY, generation=1)
    marker.touch()
    sup.send(signal.SIGHUP)  # generation 2 exits 3 while importing: generation 3 follows
    sup.wait_event(protocol.EVENT_READY, generation=3)
    assert sup.wait_event(protocol.EVENT_RELOADING, generation=3)["reason"] == "exit3"
    assert not sup.events(protocol.EVENT_CRASHED)
    assert http_get(sup.port) == (200, "v1")


def test_inherited_sigint_ignore_is_reset_in_the_child(tmp_path, supervisor):
    (tmp_path / "envapp.py").write_text("import os\n" + ENV_APP)
    sup = supervisor(["--app", "envapp:app", "--port", "0"], ignore_sigint=True)
    sup.wait_event(protocol.EVENT_READY, generation=1)
    sup.reload()
    seen = json.loads(http_get(sup.port)[1])
    assert "default_int_handler" in seen["sigint"]  # not Handlers.SIG_IGN
    code, _ = sup.stop(signal.SIGINT)  # and the parent still stops on SIGINT
    assert code == 0


def test_poll_modules_reloads_on_save(tmp_path, supervisor):
    write_app(tmp_path, "v1")
    sup = supervisor(["--app", "app:app", "--port", "0", "--poll-modules", "--interval", "0.1"])
    sup.wait_event(protocol.EVENT_READY, generation=1)
    write_app(tmp_path, "v2")
    sup.wait_event(protocol.EVENT_READY, generation=2)
    assert sup.wait_event(protocol.EVENT_RELOADING, generation=2)["reason"] == "poll"
    assert http_get(sup.port) == (200, "v2")


def test_no_refused_connection_during_20_reloads(tmp_path, supervisor):
    write_app(tmp_path, "v0")
    sup = supervisor(["--app", "app:app", "--port", "0"])
    sup.wait_event(protocol.EVENT_READY, generation=1)
    port = sup.port
    results, failures, done = [], [], threading.Event()

    def poll():
        while not done.is_set():
            try:
                results.append(http_get(port))
            except OSError as exc:
                failures.append(repr(exc))

    client = threading.Thread(target=poll)
    client.start()
    try:
        for i in range(1, 21):
            write_app(tmp_path, "v%d" % i)
            sup.reload()
            wait_until(lambda i=i: http_get(port)[1] == "v%d" % i, timeout=10,
                       message="v%d served" % i)
    finally:
        done.set()
        client.join(10)
    assert failures == []
    assert len(results) > 20
    assert {status for status, _ in results} == {200}
    assert not sup.events(protocol.EVENT_CRASHED)
