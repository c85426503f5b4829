"""Raw HTTP probes on 127.0.0.1: one new connection per request, every outcome classified.

A new connection per request is what a browser reload after a save looks like, and it is the
only way to see refused connections (keep-alive would hide a restart behind an open socket).
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import List, Optional

OK = "ok"
REFUSED = "refused"
RESET = "reset"  # reset, or closed before a complete response
SERVER_ERROR = "5xx"
TIMEOUT = "timeout"
OTHER = "other"
FAILURES = (REFUSED, RESET, SERVER_ERROR, TIMEOUT, OTHER)


@dataclass
class Response:
    outcome: str
    status: int = 0
    body: bytes = b""
    detail: str = ""


def get(port: int, path: str = "/", timeout: float = 10.0) -> Response:
    """GET http://127.0.0.1:PORT/PATH with `Connection: close`, classified."""
    request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").encode()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(request)
            chunks = []
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
    except ConnectionRefusedError:
        return Response(REFUSED)
    except (ConnectionResetError, BrokenPipeError, ConnectionAbortedError) as exc:
        return Response(RESET, detail=type(exc).__name__)
    except socket.timeout:
        return Response(TIMEOUT)
    except OSError as exc:
        return Response(OTHER, detail=str(exc))
    return parse(b"".join(chunks))


def parse(raw: bytes) -> Response:
    head, sep, body = raw.partition(b"\r\n\r\n")
    parts = head.split(b" ", 2)
    if not sep or len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return Response(RESET, detail=f"incomplete response ({len(raw)} bytes)")
    status = int(parts[1])
    if b"transfer-encoding: chunked" in head.lower():
        body = _unchunk(body)
    if status >= 500:
        return Response(SERVER_ERROR, status, body)
    return Response(OK, status, body)


def _unchunk(data: bytes) -> bytes:
    out = []
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            break
        if size == 0:
            break
        out.append(rest[:size])
        data = rest[size + 2:]
    return b"".join(out)


def wait_for_body(port: int, marker: bytes, timeout: float, interval: float = 0.005,
                  request_timeout: float = 2.0) -> Optional[float]:
    """Poll with a new connection every `interval` until a 200 body contains `marker`.

    Returns the monotonic time the matching body arrived, or None after `timeout`.
    """
    deadline = time.monotonic() + timeout
    while True:
        started = time.monotonic()
        if started >= deadline:
            return None
        response = get(port, timeout=min(request_timeout, max(0.05, deadline - started)))
        if response.outcome == OK and response.status == 200 and marker in response.body:
            return time.monotonic()
        pause = interval - (time.monotonic() - started)
        if pause > 0:
            time.sleep(pause)


@dataclass
class FailureLog:
    requests: int = 0
    failures: List[dict] = field(default_factory=list)

    def count(self) -> int:
        return len(self.failures)

    def by_kind(self) -> dict:
        kinds: dict = {}
        for failure in self.failures:
            kinds[failure["outcome"]] = kinds.get(failure["outcome"], 0) + 1
        return kinds


class FailureClient:
    """A second client that keeps requesting `/` while edits happen, and records every failure.

    It never waits for a particular body: it is the user hitting reload in a browser at any time.
    """

    def __init__(self, port: int, interval: float = 0.010, request_timeout: float = 10.0):
        self.port = port
        self.interval = interval
        self.request_timeout = request_timeout
        self.log = FailureLog()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="failure-client", daemon=True)
        self.origin = 0.0

    def __enter__(self) -> "FailureClient":
        self.origin = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(self.request_timeout + 1)

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            response = get(self.port, timeout=self.request_timeout)
            self.log.requests += 1
            if response.outcome != OK:
                self.log.failures.append({"at_s": round(started - self.origin, 4), "outcome": response.outcome,
                                          "status": response.status, "detail": response.detail})
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))
