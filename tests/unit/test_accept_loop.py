"""devbox.accept_loop: the agent's servers (control socket, dashboard) accept asleep, serve,
and stop at once. Wake-ups are counted by the kernel's context switches, not timed."""

import http.client
import http.server
import os
import socketserver
import sys
import threading
import time

import pytest

from devbox.accept_loop import AcceptLoop
from tests.body_handler import BodyHandler


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def get(port):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/")
        return conn.getresponse().read()
    finally:
        conn.close()


def voluntary_switches(tid):
    with open("/proc/%d/task/%d/status" % (os.getpid(), tid)) as f:
        return next(int(line.split()[1]) for line in f if line.startswith("voluntary_ctxt_switches:"))


@pytest.fixture
def loop():
    server = _Server(("127.0.0.1", 0), BodyHandler)
    loop = AcceptLoop(server, "test-accept-loop").start()
    yield loop
    loop.close()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts wake-ups in /proc")
def test_an_idle_accept_loop_does_not_wake_and_still_answers(loop):
    port = loop.server.server_address[1]
    assert get(port) == b"hello"
    thread = next(t for t in threading.enumerate() if t.name == "test-accept-loop")
    before = voluntary_switches(thread.native_id)
    time.sleep(2.0)  # the window measured
    # serve_forever(0.2) woke 10 times; a loaded machine adds a GIL hand-off or two to a sleeper
    assert voluntary_switches(thread.native_id) - before <= 3
    assert get(port) == b"hello"


def test_close_stops_at_once_and_frees_the_port(loop):
    port = loop.server.server_address[1]
    assert get(port) == b"hello"
    started = time.monotonic()
    loop.close()
    assert time.monotonic() - started < 1.0  # not a poll interval: the pipe wakes it
    with pytest.raises(OSError):
        get(port)
