"""The shim's graceful stop (graceful.py) and socket adoption (adopt.py) in command children:
an old process told to stop finishes what it was answering, closes idle keep-alive connections
at once, and a reload drops no request, under real servers (http.server, Bottle's own reloader,
flask run)."""

import http.client
import signal
import sys
import threading
import time

import pytest

from devbox.supervisor import protocol
from tests.body_handler import BODY_HANDLER
from tests.hammer import Hammer
from tests.supervisor.conftest import free_port, http_get, pid_alive
from tests.waiting import wait_until

# /slow answers only once the shim says the process is stopping (plus 0.3 s, by which time a
# process stopped abruptly would be gone): its answer proves the stop waited for it.
SLOW_VIEW = """
import os, sys, time

def slow_body(marker):
    open(marker, "w").close()
    shim = sys.modules.get("_devbox_shim_graceful")
    deadline = time.monotonic() + 10
    while shim is not None and not shim._state.stopping and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.3)
    stopping = shim is not None and shim._state.stopping
    return ("finished pid=%d stopping=%s" % (os.getpid(), stopping)).encode()
"""

HTTP_SERVER = SLOW_VIEW + BODY_HANDLER + """
import signal, threading

class Handler(BodyHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as runserver and werkzeug do

    def body(self):
        return slow_body("slow.started") if self.path == "/slow" else b"pid=%d" % os.getpid()

server = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
if sys.argv[2] == "main":  # as werkzeug (flask run) and wsgiref serve: on the main thread
    server.serve_forever()
else:  # as Django's runserver: a server thread, and a SIGTERM handler that exits
    signal.signal(signal.SIGTERM, lambda *args: sys.exit(0))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    while not os.path.exists("exit3"):  # as Django's autoreloader exits on a change
        time.sleep(0.01)
    os.remove("exit3")  # once: the next generation serves
    sys.exit(3)
"""

BOTTLE_APP = SLOW_VIEW + """
import bottle

MESSAGE = "bottle v1"

@bottle.route("/")
def index():
    return MESSAGE

@bottle.route("/slow")
def slow():
    return slow_body("slow.started")

if __name__ == "__main__":
    bottle.run(host="127.0.0.1", port=int(sys.argv[1]), reloader=True, interval=0.1, quiet=True)
"""

FLASK_APP = """
from flask import Flask
app = Flask(__name__)
MESSAGE = "flask v1"
@app.route("/")
def index():
    return MESSAGE
"""


def command_server(tmp_path, supervisor, mode):
    script = tmp_path / "server.py"
    script.write_text(HTTP_SERVER)
    port = free_port()
    sup = supervisor(["--port", str(port), "--", sys.executable, str(script), str(port), mode])
    return sup, port, sup.wait_event(protocol.EVENT_READY, generation=1)


def slow_request(port):
    """GET /slow in a thread; the dict gets `answer` (status, body) or `error`."""
    result = {}

    def run():
        try:
            result["answer"] = http_get(port, "/slow", timeout=20.0)
        except (OSError, http.client.HTTPException) as exc:
            result["error"] = repr(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


@pytest.mark.parametrize("mode", ["main", "thread"])
def test_a_stopped_command_finishes_the_request_it_was_answering(tmp_path, supervisor, mode):
    sup, port, first = command_server(tmp_path, supervisor, mode)
    thread, result = slow_request(port)
    wait_until(lambda: (tmp_path / "slow.started").exists(), message="/slow reached the server")
    sup.reload()  # the new process serves; the old one is told to stop
    thread.join(20)
    assert result.get("answer") == (200, "finished pid=%d stopping=True" % first["pid"]), (
        result, sup.output())
    wait_until(lambda: not pid_alive(first["pid"]), protocol.DEFAULT_GRACE,
               message="the old process exits once its request is answered")
    assert "did not stop within" not in sup.output()


def test_a_command_that_exits_while_its_server_thread_answers_finishes_the_request_first(
        tmp_path, supervisor):
    """Django's runserver (and werkzeug's reloader) exit 3 from the main thread on a change,
    while the server thread, a daemon, may be answering."""
    sup, port, first = command_server(tmp_path, supervisor, "thread")
    thread, result = slow_request(port)
    wait_until(lambda: (tmp_path / "slow.started").exists(), message="/slow reached the server")
    (tmp_path / "exit3").touch()
    thread.join(20)
    assert result.get("answer") == (200, "finished pid=%d stopping=True" % first["pid"]), (
        result, sup.output())
    sup.wait_event(protocol.EVENT_RELOADING, reason=protocol.REASON_EXIT3)


def test_an_idle_keep_alive_connection_does_not_hold_a_stopping_command(tmp_path, supervisor):
    sup, port, first = command_server(tmp_path, supervisor, "main")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/")
        assert conn.getresponse().read() == b"pid=%d" % first["pid"]
        sup.reload()
        told = time.monotonic()
        wait_until(lambda: not pid_alive(first["pid"]), protocol.DEFAULT_GRACE,
                   message="the old process exits")
        # Without closing the idle connection it would wait for the whole drain timeout.
        assert time.monotonic() - told < protocol.SHIM_DRAIN_TIMEOUT / 2
        conn.sock.settimeout(5)
        assert conn.sock.recv(1) == b""
    finally:
        conn.close()


def test_bottles_own_reloader_finishes_the_request_before_it_restarts(tmp_path, supervisor):
    source = tmp_path / "app.py"
    source.write_text(BOTTLE_APP)
    port = free_port()
    sup = supervisor(["--port", str(port), "--", sys.executable, str(source), str(port)],
                     workdir=tmp_path)
    first = sup.wait_event(protocol.EVENT_READY, generation=1)
    thread, result = slow_request(port)
    wait_until(lambda: (tmp_path / "slow.started").exists(), message="/slow reached bottle")
    source.write_text(source.read_text().replace('"bottle v1"', '"bottle v2 edited"'))
    thread.join(20)  # bottle's file checker interrupts the main thread, which serves /slow
    assert result.get("answer") == (200, "finished pid=%d stopping=True" % first["pid"]), (
        result, sup.output())
    sup.wait_event(protocol.EVENT_RELOADING, reason=protocol.REASON_EXIT3)
    sup.wait_event(protocol.EVENT_READY, generation=2)
    assert http_get(port) == (200, "bottle v2 edited")


def test_a_blocking_accept_on_the_adopted_socket_waits_for_a_connection(tmp_path, supervisor):
    """A server of its own (no socketserver): bind, listen(1), blocking accept() on what is the
    supervisor's non-blocking socket."""
    script = tmp_path / "raw.py"
    script.write_text(
        "import socket, sys\n"
        "s = socket.socket()\n"
        "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
        "s.bind(('127.0.0.1', int(sys.argv[1])))\n"
        "s.listen(1)\n"
        "while True:\n"
        "    c, _ = s.accept()\n"
        "    c.recv(65536)\n"
        "    c.sendall(b'HTTP/1.0 200 OK\\r\\nContent-Length: 3\\r\\n\\r\\nraw')\n"
        "    c.close()\n")
    port = free_port()
    sup = supervisor(["--port", str(port), "--", sys.executable, str(script), str(port)])
    sup.wait_event(protocol.EVENT_READY, generation=1)
    for _ in range(3):
        assert http_get(port) == (200, "raw")
    assert "BlockingIOError" not in sup.output()


def reloads_without_a_failure(sup, port, source, old, reloads=3):
    """Edit the text, longer each time (a same-size edit in the same second would leave the
    module's .pyc looking current), and SIGHUP, `reloads` times, while the hammer runs; each new
    text must be served and no request may fail."""
    hammer = Hammer(lambda: http_get(port, timeout=10.0))
    try:
        text = old
        for n in range(1, reloads + 1):
            new = "%s r%s" % (old, "!" * n)
            source.write_text(source.read_text().replace('"%s"' % text, '"%s"' % new))
            sup.send(signal.SIGHUP)  # Bottle's own reloader may restart it too: either is fine
            wait_until(lambda new=new: http_get(port) == (200, new), message="%r served" % new)
            text = new
    finally:
        hammer.stop()
    assert hammer.answered > 0
    assert hammer.failures == [], (hammer.failures, sup.output())


def test_bottles_own_reloader_drops_no_request_across_reloads(tmp_path, supervisor):
    source = tmp_path / "app.py"
    source.write_text(BOTTLE_APP)
    port = free_port()
    sup = supervisor(["--port", str(port), "--", sys.executable, str(source), str(port)],
                     workdir=tmp_path)
    sup.wait_event(protocol.EVENT_READY, generation=1)
    reloads_without_a_failure(sup, port, source, "bottle v1")


def test_flask_run_drops_no_request_across_reloads(tmp_path, supervisor):
    source = tmp_path / "app.py"
    source.write_text(FLASK_APP)
    sup = supervisor(["--port", "0", "--", sys.executable, "-m", "flask", "--app", "app", "run",
                      "--debug"])
    sup.wait_event(protocol.EVENT_READY, generation=1)
    reloads_without_a_failure(sup, sup.port, source, "flask v1")


# An asyncio server as uvicorn runs one: on fd 3's copy, a SIGTERM handler that only sets a flag,
# looked at every TICK seconds (uvicorn: 0.1 s; longer here, so it shows), then a graceful exit.
ASYNCIO_SERVER = """
import asyncio, os, signal, socket

TICK = 2.0
exiting = []

async def answer(reader, writer):
    await reader.readuntil(b"\\r\\n\\r\\n")
    body = b"pid=%d" % os.getpid()
    writer.write(b"HTTP/1.0 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n%s" % (len(body), body))
    await writer.drain()
    writer.close()

async def main():
    sock = socket.fromfd(3, socket.AF_INET, socket.SOCK_STREAM)
    server = await asyncio.start_server(answer, sock=sock)
    while not exiting:
        await asyncio.sleep(TICK)
    server.close()
    await server.wait_closed()

signal.signal(signal.SIGTERM, lambda *args: exiting.append(True))
asyncio.run(main())
"""


def test_an_asyncio_server_stops_accepting_at_the_stop_signal_not_at_its_next_tick(
        tmp_path, supervisor):
    script = tmp_path / "server.py"
    script.write_text(ASYNCIO_SERVER)
    sup = supervisor(["--port", "0", "--", sys.executable, str(script)])
    first = sup.wait_event(protocol.EVENT_READY, generation=1)
    port = sup.port
    assert http_get(port) == (200, "pid=%d" % first["pid"])
    second = sup.reload()
    answers = [http_get(port)[1] for _ in range(20)]  # while the old one waits for its tick
    assert pid_alive(first["pid"])
    assert answers == ["pid=%d" % second["pid"]] * 20, sup.output()
    wait_until(lambda: not pid_alive(first["pid"]), protocol.DEFAULT_GRACE,
               message="the old process exits by its own handler")
    assert "did not stop within" not in sup.output()


SLOW_POLLING_SERVER = BODY_HANDLER + """
import os, sys

class Handler(BodyHandler):
    def body(self):
        return b"pid=%d" % os.getpid()

http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever(poll_interval=30)
"""


def test_a_socketserver_loop_leaves_at_the_stop_signal_not_at_its_next_poll(tmp_path, supervisor):
    script = tmp_path / "server.py"
    script.write_text(SLOW_POLLING_SERVER)
    port = free_port()
    sup = supervisor(["--port", str(port), "--", sys.executable, str(script), str(port)])
    first = sup.wait_event(protocol.EVENT_READY, generation=1)
    sup.reload()
    wait_until(lambda: not pid_alive(first["pid"]), protocol.DEFAULT_GRACE,
               message="the old process leaves serve_forever and exits")
    assert "did not stop within" not in sup.output()
