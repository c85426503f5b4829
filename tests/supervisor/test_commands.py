"""Command mode: any server as the child, taking fd 3 or binding the port itself."""

import json
import signal
import sys

import pytest

from devbox.supervisor import protocol
from tests.supervisor.conftest import APPS, free_port, http_get, pid_alive
from tests.waiting import wait_until

SELF_BINDING_SERVER = """
import os, sys
from wsgiref.simple_server import make_server
BODY = %r
def app(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('%%s pid=%%d' %% (BODY, os.getpid())).encode()]
assert 'LISTEN_FDS' not in os.environ, 'listen self: no socket is passed'
make_server('127.0.0.1', int(sys.argv[1]), app).serve_forever()
"""

BOTTLE_SCRIPT = """
import sys
import bottle
BODY = %r
@bottle.route('/')
def index():
    return BODY
bottle.run(host='127.0.0.1', port=int(sys.argv[1]), reloader=True, interval=0.1, quiet=True)
"""


def test_command_serving_on_fd_3(tmp_path, supervisor):
    script = tmp_path / "server.py"
    script.write_text((APPS / "fd3_server.py").read_text())
    sup = supervisor(["--port", "0", "--", sys.executable, str(script)])
    first = sup.wait_event(protocol.EVENT_READY, generation=1)
    seen = json.loads(wait_until(lambda: http_get(sup.port)[1], message="fd3 server answers"))
    assert seen == {"body": "fd3 v1", "pid": first["pid"], "listen_pid": str(first["pid"])}

    script.write_text(script.read_text().replace('"fd3 v1"', '"fd3 v2"'))
    second = sup.reload()
    wait_until(lambda: json.loads(http_get(sup.port)[1])["body"] == "fd3 v2",
               message="new command serves")
    seen = json.loads(http_get(sup.port)[1])
    assert seen["pid"] == second["pid"] and seen["listen_pid"] == str(second["pid"])
    assert sup.status()["command"] == [sys.executable, str(script)]


@pytest.mark.parametrize("overlap", [[], ["--no-overlap"]], ids=["overlap", "no-overlap"])
def test_a_command_is_ready_when_it_answers_not_when_it_starts(tmp_path, supervisor, overlap):
    """The printed time covers the command's start up to its first answer (the probe), and the
    next request after the ready event reaches the new process."""
    script = tmp_path / "server.py"
    script.write_text((APPS / "fd3_server.py").read_text())
    sup = supervisor(overlap + ["--port", "0", "--", sys.executable, str(script)],
                     env={"FD3_SERVER_DELAY": "0.4"})
    assert sup.wait_event(protocol.EVENT_READY, generation=1)["ms"] >= 400
    script.write_text(script.read_text().replace('"fd3 v1"', '"fd3 v2"'))
    second = sup.reload()
    assert second["ms"] >= 400
    assert json.loads(http_get(sup.port)[1]) == {"body": "fd3 v2", "pid": second["pid"],
                                                 "listen_pid": str(second["pid"])}
    assert sup.status()["last_reload_ms"] == [second["ms"]]


def test_listen_self_command_binds_the_port_itself(tmp_path, supervisor):
    port = free_port()
    script = tmp_path / "server.py"
    script.write_text(SELF_BINDING_SERVER % "self v1")
    sup = supervisor(["--listen", "self", "--port", str(port), "--",
                      sys.executable, str(script), str(port)])
    first = sup.wait_event(protocol.EVENT_READY, generation=1)
    assert sup.wait_event(protocol.EVENT_STARTED)["listen"] == "self"
    assert wait_until(lambda: http_get(port)[1], message="self-bound server answers") == \
        "self v1 pid=%d" % first["pid"]

    script.write_text(SELF_BINDING_SERVER % "self v2")
    second = sup.reload()  # the old one must release the port before the new one binds it
    assert wait_until(lambda: http_get(port)[1], message="new server answers") == \
        "self v2 pid=%d" % second["pid"]
    assert not sup.events(protocol.EVENT_CRASHED)
    code, _ = sup.stop()
    assert code == 0


def test_bottle_reloader_script_runs_under_the_supervisor(tmp_path, supervisor):
    """A real `bottle.run(reloader=True)`: Bottle sees BOTTLE_CHILD and BOTTLE_LOCKFILE, so it
    serves instead of starting its own reloader, and its file checker's exit 3 reloads it. The
    supervisor starts with SIGINT ignored, as under some shells and CI runners: the checker's
    interrupt_main() only works because the child gets SIGINT back to default."""
    port = free_port()
    script = tmp_path / "bottle_app.py"
    script.write_text(BOTTLE_SCRIPT % "bottle v1")
    sup = supervisor(["--listen", "self", "--port", str(port), "--",
                      sys.executable, str(script), str(port)], ignore_sigint=True)
    sup.wait_event(protocol.EVENT_READY, generation=1)
    assert wait_until(lambda: http_get(port)[1], message="bottle answers") == "bottle v1"

    script.write_text(BOTTLE_SCRIPT % "bottle v2")
    sup.wait_event(protocol.EVENT_READY, generation=2, timeout=20)
    assert sup.wait_event(protocol.EVENT_RELOADING, generation=2)["reason"] == "exit3"
    assert wait_until(lambda: http_get(port)[1], message="bottle answers") == "bottle v2"

    sup.send(signal.SIGHUP)  # and the host's reload works for it too
    sup.wait_event(protocol.EVENT_READY, generation=3, timeout=20)
    assert wait_until(lambda: http_get(port)[1], message="bottle answers") == "bottle v2"
    assert not sup.events(protocol.EVENT_CRASHED)


def test_command_starts_with_no_ignored_signals(tmp_path, supervisor):
    """Python ignores SIGPIPE and the test starts the supervisor with SIGINT ignored: neither
    may leak into the child (an ignored SIGINT makes interrupt_main() a no-op)."""
    sup = supervisor(["--", "sleep", "60"], ignore_sigint=True)
    child = sup.wait_event(protocol.EVENT_READY, generation=1)["pid"]
    with open("/proc/%d/status" % child) as f:
        fields = dict(line.split(":", 1) for line in f.read().splitlines())
    assert int(fields["SigIgn"], 16) == 0
    assert int(fields["SigBlk"], 16) == 0


def test_with_overlap_the_old_command_serves_until_the_new_one_answers(tmp_path, supervisor):
    """owner.py tells who accepted the probe, so the old process keeps serving while the new
    one starts (here: sleeps 0.4 s), and is stopped once the new one answered."""
    script = tmp_path / "server.py"
    script.write_text((APPS / "fd3_server.py").read_text())
    sup = supervisor(["--port", "0", "--", sys.executable, str(script)],
                     env={"FD3_SERVER_DELAY": "0.4"})
    first = sup.wait_event(protocol.EVENT_READY, generation=1)
    assert sup.status()["overlap"] is True
    script.write_text(script.read_text().replace('"fd3 v1"', '"fd3 v2"'))
    sup.send(signal.SIGHUP)
    sup.wait_event(protocol.EVENT_RELOADING, generation=2)
    assert json.loads(http_get(sup.port)[1])["pid"] == first["pid"]  # the new one still sleeps
    second = sup.wait_event(protocol.EVENT_READY, generation=2)
    assert second["ms"] >= 400
    assert json.loads(http_get(sup.port)[1]) == {"body": "fd3 v2", "pid": second["pid"],
                                                 "listen_pid": str(second["pid"])}
    wait_until(lambda: not pid_alive(first["pid"]), message="the old command stopped")


def test_a_command_is_ready_when_it_answers_not_when_the_old_one_has_exited(tmp_path, supervisor):
    """The ready event (the host's reload time, the browser's refresh, its loop detector) ends
    when the new code answers, however long the old process takes to finish after its stop."""
    script = tmp_path / "server.py"
    script.write_text((APPS / "fd3_server.py").read_text())
    linger = 10  # seconds: far beyond a reload, even on a loaded machine
    sup = supervisor(["--port", "0", "--", sys.executable, str(script)],
                     env={"FD3_SERVER_LINGER": str(linger)})
    first = sup.wait_event(protocol.EVENT_READY, generation=1)
    second = sup.reload()
    assert pid_alive(first["pid"]), sup.output()  # still finishing its (pretend) requests
    assert second["ms"] < linger * 1000
    assert json.loads(http_get(sup.port)[1])["pid"] == second["pid"]
    assert sup.status()["last_reload_ms"] == [second["ms"]]
