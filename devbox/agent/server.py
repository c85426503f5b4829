"""The agent's end of the control socket (the protocol is in control.py).

The socket is made with umask 077 and chmod 0600 inside a 0700 directory, and every connection's
peer is checked (SO_PEERCRED): only the agent's own user gets an answer.
"""

from __future__ import annotations

import os
import queue
import socket
import socketserver
import struct
import threading
from pathlib import Path
from typing import Callable, Dict

from devbox.accept_loop import AcceptLoop
from devbox.agent import control
from devbox.agent.bus import EventBus

Handler = Callable[[dict], dict]
# How often a streaming reply with nothing to send looks whether its client went away. The
# accept loop itself has no period (devbox.accept_loop).
POLL_S = 5.0
STREAMS_FLUSH_S = 2.0  # the longest close() waits for event streams to write what they hold


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process at the other end of a unix socket (Linux), or -1 if unknown."""
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except (AttributeError, OSError):
        return -1
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    allow_reuse_address = False


class ControlServer:
    """Answers requests on `path` with `handlers[op](request)`; `events` streams `bus`."""

    def __init__(self, path: Path, bus: EventBus, handlers: Dict[str, Handler]):
        self.path = Path(path)
        self.bus = bus
        self.handlers = handlers
        self.closing = threading.Event()
        self._streams = 0  # event streams still writing (close() lets them finish)
        self._streams_done = threading.Condition()
        outer = self

        class _Handler(socketserver.StreamRequestHandler):
            def handle(self):
                outer._handle(self.connection, self.rfile, self.wfile)

        try:
            self.path.unlink()  # a dead agent's socket: the caller holds the project's lock
        except FileNotFoundError:
            pass
        old = os.umask(0o177)
        try:
            self._server = _Server(str(self.path), _Handler)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        self._loop = AcceptLoop(self._server, "control")

    def start(self) -> "ControlServer":
        self._loop.start()
        return self

    def close(self) -> None:
        """Stop; an event stream first writes the records it was given (the agent's last word,
        `agent_failed` or `agent_stopped`, reaches `devbox up` before the process exits)."""
        self.closing.set()
        self.bus.close()
        self._loop.close()
        with self._streams_done:
            self._streams_done.wait_for(lambda: self._streams == 0, timeout=STREAMS_FLUSH_S)
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    def _handle(self, conn: socket.socket, rfile, wfile) -> None:
        if peer_uid(conn) not in (os.getuid(), -1):
            wfile.write(control.encode({"ok": False, "error": "not your agent"}))
            return
        try:
            request = control.decode(rfile.readline(control.MAX_LINE))
        except ValueError as exc:
            wfile.write(control.encode({"ok": False, "error": f"bad request: {exc}"}))
            return
        op = request.get("op")
        try:
            if op == "events":
                self._stream(request, conn, wfile)
                return
            handler = self.handlers.get(op)
            if handler is None:
                answer = {"ok": False, "error": f"unknown op {op!r} (known: {', '.join(control.OPS)})"}
            else:
                answer = {"ok": True, **handler(request)}
            wfile.write(control.encode(answer))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away
        except Exception as exc:  # noqa: BLE001 - one bad request must not end the agent
            try:
                wfile.write(control.encode({"ok": False, "error": f"{type(exc).__name__}: {exc}"}))
            except OSError:
                pass

    def _stream(self, request: dict, conn: socket.socket, wfile) -> None:
        since = request.get("since")
        subscription = self.bus.subscribe(since=int(since) if since is not None else None)
        with self._streams_done:
            self._streams += 1
        try:
            wfile.write(control.encode({"ok": True, "seq": self.bus.seq}))
            wfile.flush()
            while True:  # until the bus ends it (None): what was queued before is written first
                try:
                    record = subscription.get(timeout=POLL_S)
                except queue.Empty:
                    if self.closing.is_set() or _hung_up(conn):
                        return
                    continue
                if record is None:
                    return
                wfile.write(control.encode(record))
                wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            self.bus.unsubscribe(subscription)
            with self._streams_done:
                self._streams -= 1
                self._streams_done.notify_all()


def _hung_up(conn: socket.socket) -> bool:
    """True when the client closed its end (a read would return EOF now)."""
    try:
        conn.setblocking(False)
        try:
            return conn.recv(1, socket.MSG_PEEK) == b""
        finally:
            conn.setblocking(True)
    except BlockingIOError:
        return False
    except OSError:
        return True
