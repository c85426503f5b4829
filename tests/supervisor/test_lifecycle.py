"""Stopping, draining, parent death and reaping: nothing is left behind."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from devbox.supervisor import protocol
from devbox.supervisor.spawn import child_argv
from tests.supervisor.conftest import free_port, http_get, pid_alive, write_app
from tests.waiting import wait_until

SLOW_APP = """
import os, time
BODY = %r
def app(environ, start_response):
    if environ['PATH_INFO'] == '/slow':
        open('slow-started', 'w').close()
        time.sleep(float(environ['QUERY_STRING']))
    start_response('200 OK', [])
    return [BODY.encode()]
"""


def start_slow_request(tmp_path, sup, seconds):
    """A request that takes `seconds` in the app; returns (thread, results list) once the app
    is handling it."""
    results = []
    thread = threading.Thread(
        target=lambda: results.append(http_get(sup.port, "/slow?%s" % seconds)))
    thread.start()
    wait_until(lambda: (tmp_path / "slow-started").exists(), timeout=5,
               message="slow request in the app")
    return thread, results


def zombies_of(pid):
    """Pids of zombie children of `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] == "Z" and int(fields[1]) == pid:
                found.append(int(entry))
    return found


def test_sigterm_stops_fast_and_leaves_no_process(tmp_path, supervisor):
    pidfile = tmp_path / "grandchild.pid"
    write_app(tmp_path, "v1", extra=(
        "import subprocess\n"
        "_sleeper = subprocess.Popen(['sleep', '60'])\n"
        "open(%r, 'w').write(str(_sleeper.pid))\n" % str(pidfile)))
    sup = supervisor(["--app", "app:app", "--port", "0"])
    sup.wait_event(protocol.EVENT_READY, generation=1)
    for _ in range(3):
        sup.reload()
    children = sup.child_pids()
    grandchild = int(pidfile.read_text())
    wait_until(lambda: not zombies_of(sup.pid), timeout=5, message="no zombie children")

    code, took = sup.stop(signal.SIGTERM)
    assert code == 0
    assert took < 1.0
    assert sup.events(protocol.EVENT_STOPPED)
    assert [pid for pid in children | {grandchild} if pid_alive(pid)] == []
    assert not sup.lock_file.exists()


def test_in_flight_request_finishes_across_a_reload(tmp_path, supervisor):
    (tmp_path / "app.py").write_text(SLOW_APP % "old")
    sup = supervisor(["--app", "app:app", "--port", "0"])
    sup.wait_event(protocol.EVENT_READY, generation=1)
    request, slow = start_slow_request(tmp_path, sup, 1.0)
    write_app(tmp_path, "new")
    sup.reload()
    assert http_get(sup.port) == (200, "new")
    request.join(10)
    assert slow == [(200, "old")]


def test_sigterm_waits_for_in_flight_request(tmp_path, supervisor):
    (tmp_path / "app.py").write_text(SLOW_APP % "done")
    sup = supervisor(["--app", "app:app", "--port", "0"])
    sup.wait_event(protocol.EVENT_READY, generation=1)
    request, slow = start_slow_request(tmp_path, sup, 0.5)
    code, _ = sup.stop(signal.SIGTERM)
    request.join(10)
    assert code == 0 and slow == [(200, "done")]


def test_child_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path, supervisor):
    script = tmp_path / "stubborn.py"
    script.write_text("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                      "while True:\n    time.sleep(60)\n")
    sup = supervisor(["--grace", "0.3", "--", sys.executable, str(script)])
    child = sup.wait_event(protocol.EVENT_READY, generation=1)["pid"]
    wait_until(lambda: "SigIgn" in _proc_status(child) and _ignores_sigterm(child), timeout=5,
               message="child ignores SIGTERM")
    code, took = sup.stop(signal.SIGTERM)
    assert code == 0
    assert 0.3 <= took < 2.0
    assert not pid_alive(child)
    assert "did not stop within 0.3s" in sup.output()


def _proc_status(pid):
    with open("/proc/%d/status" % pid) as f:
        return f.read()


def _ignores_sigterm(pid):
    line = [text for text in _proc_status(pid).splitlines() if text.startswith("SigIgn:")][0]
    return int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1))


def test_sigkill_of_the_parent_takes_the_child_down(tmp_path, supervisor):
    write_app(tmp_path, "v1")
    sup = supervisor(["--app", "app:app", "--port", "0", "--interval", "0.2"])
    child = sup.wait_event(protocol.EVENT_READY, generation=1)["pid"]
    sup.send(signal.SIGKILL)
    bound = protocol.stale_after(0.2) + 1.0
    wait_until(lambda: not pid_alive(child), timeout=bound, message="child gone")


def test_orphaned_adopted_process_is_reaped(tmp_path, supervisor):
    pidfile = tmp_path / "escapee.pid"
    write_app(tmp_path, "v1", extra=(
        "import subprocess, sys\n"
        "_p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(0.5)'],"
        " start_new_session=True)\n"
        "open(%r, 'w').write(str(_p.pid))\n" % str(pidfile)))
    sup = supervisor(["--app", "app:app", "--port", "0"])
    sup.wait_event(protocol.EVENT_READY, generation=1)
    escapee = int(pidfile.read_text())
    sup.reload()  # its parent exits: the supervisor adopts it (subreaper) and must reap it
    wait_until(lambda: not os.path.exists("/proc/%d" % escapee), timeout=10,
               message="adopted process reaped")
    assert http_get(sup.port)[0] == 200


# -- the child alone: how it notices that the parent is gone ----------------------------------

def start_child(tmp_path, processes, interval, env=None, pass_fds=()):
    write_app(tmp_path, "alone")
    lock = tmp_path / "heartbeat.lock"
    lock.touch()
    port = free_port()
    child_env = dict(os.environ, LOCK_FILE=str(lock), **(env or {}))
    child_env.pop(protocol.ENV_LISTEN_FD, None)
    proc = subprocess.Popen(
        child_argv(sys.executable, ["--app", "app:app", "--host", "127.0.0.1", "--port", port,
                                    "--interval", interval]),
        cwd=str(tmp_path), env=child_env, pass_fds=pass_fds, start_new_session=True,
        stdout=open(tmp_path / "child.out", "wb"), stderr=subprocess.STDOUT)
    processes.append(proc)
    wait_until(lambda: http_get(port) == (200, "alone"), timeout=10, message="child serves")
    return proc, lock


@pytest.mark.parametrize("how", ["stale", "missing"])
def test_orphaned_child_exits_on_stale_lockfile(tmp_path, processes, how):
    proc, lock = start_child(tmp_path, processes, interval=0.1)
    if how == "stale":
        past = time.time() - protocol.stale_after(0.1) - 1
        os.utime(lock, (past, past))
    else:
        lock.unlink()
    wait_until(lambda: proc.poll() is not None, timeout=5, message="child exits")
    assert proc.returncode == 0
    assert "lockfile %s is stale" % lock in (tmp_path / "child.out").read_text()


def test_child_exits_when_the_control_socket_closes(tmp_path, processes):
    ours, theirs = socket.socketpair()
    with ours, theirs:
        proc, _ = start_child(tmp_path, processes, interval=30,
                              env={protocol.ENV_CONTROL_FD: str(theirs.fileno())},
                              pass_fds=(theirs.fileno(),))
        assert ours.recv(100) == b"ready\n"
    wait_until(lambda: proc.poll() is not None, timeout=5, message="child exits on EOF")
    assert "control socket closed" in (tmp_path / "child.out").read_text()
