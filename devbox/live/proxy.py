"""The live-reload proxy: a threaded HTTP/1.1 proxy on the host port devbox.yml names.

Every byte passes through as the app sent it (keep-alive, chunked and close-delimited bodies,
`Expect: 100-continue`, an Upgrade such as a WebSocket piped both ways) except that a complete,
uncompressed HTML answer gets the script tag (inject.py). Two paths are its own:
`/__devbox/live.js` (the script) and `/__devbox/events` (the live messages as Server-Sent
Events, from the message after `since` or Last-Event-ID).

A request is sent upstream once: a GET or HEAD without a body is tried again on a new
connection only when a kept-alive one closed before answering anything (the app's idle
timeout); any other request gets a new connection of its own, so nothing that may change state
is ever sent twice. Connecting waits for an app that restarts (upstream.py).
"""

from __future__ import annotations

import socket
import threading
import json
from typing import List, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

from devbox import sse
from devbox.live import inject
from devbox.live.feed import Feed
from devbox.live.upstream import Unreachable, Upstream

MAX_HEAD = 64 * 1024
RETRY_MS = 500  # a page reconnects soon after the agent restarts
PING_S = 15.0
CHUNK = 65536
_IDEMPOTENT = ("GET", "HEAD", "OPTIONS", "TRACE")

Headers = List[Tuple[str, str]]


class BadMessage(Exception):
    """What came is not HTTP/1.x."""


def read_head(reader) -> Optional[bytes]:
    """The bytes of one message head, up to and with the blank line; None at a clean EOF."""
    lines = []
    size = 0
    while True:
        line = reader.readline(MAX_HEAD + 1)
        if not line:
            if lines:
                raise BadMessage("the connection closed inside a message head")
            return None
        if not lines and line in (b"\r\n", b"\n"):
            continue  # a stray blank line between messages (RFC 9112 2.2)
        lines.append(line)
        size += len(line)
        if size > MAX_HEAD:
            raise BadMessage("message head too large")
        if line in (b"\r\n", b"\n"):
            return b"".join(lines)


def parse_head(head: bytes) -> Tuple[List[str], Headers]:
    """(the start line's three parts, headers in order)."""
    lines = head.decode("latin-1").split("\n")
    start = lines[0].strip().split(" ", 2)
    if len(start) < 2:
        raise BadMessage(f"not an HTTP start line: {lines[0]!r}")
    headers = []
    for line in lines[1:]:
        line = line.rstrip("\r")
        if not line:
            break
        name, sep, value = line.partition(":")
        if not sep:
            raise BadMessage(f"not a header: {line!r}")
        headers.append((name.strip(), value.strip()))
    return start + [""] * (3 - len(start)), headers


def header_map(headers: Headers) -> dict:
    """Lower-case name -> value (repeated names joined with commas)."""
    found: dict = {}
    for name, value in headers:
        key = name.lower()
        found[key] = f"{found[key]}, {value}" if key in found else value
    return found


def _tokens(value: str) -> set:
    return {t.strip().lower() for t in value.split(",") if t.strip()}


def copy_body(reader, writer, headers: dict, until_close: bool = False) -> None:
    """Copy one message body as framed by `headers` (chunked, Content-Length, or until EOF)."""
    if "chunked" in _tokens(headers.get("transfer-encoding", "")):
        while True:
            size_line = reader.readline(MAX_HEAD)
            if not size_line:
                raise BadMessage("the connection closed inside a chunked body")
            writer.sendall(size_line)
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while True:  # trailers, then the blank line
                    line = reader.readline(MAX_HEAD)
                    writer.sendall(line)
                    if line in (b"\r\n", b"\n", b""):
                        return
            _copy_exactly(reader, writer, size + 2)  # the chunk and its CRLF
    elif "content-length" in headers:
        _copy_exactly(reader, writer, int(headers["content-length"]))
    elif until_close:
        while True:
            data = reader.read1(CHUNK)
            if not data:
                return
            writer.sendall(data)


def _copy_exactly(reader, writer, size: int) -> None:
    while size > 0:
        data = reader.read1(min(size, CHUNK))
        if not data:
            raise BadMessage("the connection closed inside a body")
        writer.sendall(data)
        size -= len(data)


def _read_exactly(reader, size: int) -> bytes:
    data = reader.read(size)
    if len(data) != size:
        raise BadMessage("the connection closed inside a body")
    return data


def _head_bytes(start: List[str], headers: Headers) -> bytes:
    lines = [" ".join(part for part in start if part)] + [f"{n}: {v}" for n, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def simple_answer(status: str, body: bytes, content_type: str, extra: Headers = (), cache: str = "no-cache") -> bytes:
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body))),
               ("Cache-Control", cache), *extra]
    return _head_bytes(["HTTP/1.1", *status.split(" ", 1)], headers) + body


class _Upstream:
    """One connection to the app, kept alive between a client's requests."""

    def __init__(self, sock: socket.socket, seq: int):
        self.sock = sock
        self.reader = sock.makefile("rb")
        self.used = False
        self.seq = seq  # the live message when it was opened: a reload since means an old child

    def close(self) -> None:
        try:
            self.reader.close()
            self.sock.close()
        except OSError:
            pass


class LiveProxy:
    """One listening address in front of one app (a compose service: `service`)."""

    def __init__(self, listen: Tuple[str, int], upstream: Upstream, feed: Feed, service: str = ""):
        self.listen = listen
        self.upstream = upstream
        self.feed = feed
        self.service = service
        self.sock: Optional[socket.socket] = None
        self._clients: set = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()

    def bind(self) -> "LiveProxy":
        """Take the address (OSError when it is taken); serve with start()."""
        ip, port = self.listen
        sock = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((ip, port))
            sock.listen(128)
        except OSError:
            sock.close()
            raise
        self.sock = sock
        self.listen = (ip, sock.getsockname()[1])
        return self

    def start(self) -> "LiveProxy":
        threading.Thread(target=self._accept, name=f"live-proxy-{self.listen[1]}", daemon=True).start()
        return self

    def close(self) -> None:
        self._closed.set()
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()
        with self._lock:
            clients, self._clients = list(self._clients), set()
        for client in clients:
            try:
                client.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._clients.add(client)
            threading.Thread(target=self._serve, args=(client,), name="live-client", daemon=True).start()

    # -- one client connection -----------------------------------------------------------------
    def _serve(self, client: socket.socket) -> None:
        reader = client.makefile("rb")
        upstream: Optional[_Upstream] = None
        try:
            while not self._closed.is_set():
                head = read_head(reader)
                if head is None:
                    return
                start, headers = parse_head(head)
                method, target, version = start
                request = header_map(headers)
                if urlsplit(target).path.startswith(inject.PREFIX):
                    if not self._own(client, method, target, request):
                        return
                    continue
                keep, upstream = self._forward(client, reader, upstream, head, method, version, request)
                if not keep:
                    return
        except (OSError, BadMessage, ValueError, Unreachable):
            return
        finally:
            if upstream is not None:
                upstream.close()
            with self._lock:
                self._clients.discard(client)
            try:
                reader.close()
                client.close()
            except OSError:
                pass

    def _forward(self, client, reader, upstream: Optional[_Upstream], head: bytes, method: str, version: str,
                 request: dict):
        """One request through; (keep the client connection, the upstream connection to keep)."""
        has_body = "content-length" in request and request["content-length"].strip() != "0" \
            or "transfer-encoding" in request
        retry_allowed = method in _IDEMPOTENT and not has_body
        if upstream is not None and (not retry_allowed or upstream.seq != self.feed.seq):
            # A request that may change state gets a connection of its own, and a connection
            # opened before a reload reaches the old child: a page reloaded for the new code
            # must not be answered by the old one.
            upstream.close()
            upstream = None
        for attempt in (0, 1):
            if upstream is None:
                try:
                    seq = self.feed.seq
                    upstream = _Upstream(self.upstream.connect(), seq)
                except Unreachable:
                    client.sendall(self._unreachable(method))
                    return False, None
            reused = upstream.used
            upstream.used = True
            try:
                upstream.sock.sendall(head)
                if has_body:
                    if "100-continue" in request.get("expect", "").lower() and attempt == 0:
                        client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")  # else the client waits for it
                    copy_body(reader, upstream.sock, request)
                response_head = read_head(upstream.reader)
            except OSError:
                response_head = None
            if response_head is not None:
                break
            upstream.close()
            upstream = None
            if not (reused and retry_allowed and attempt == 0):
                client.sendall(self._unreachable(method))
                return False, None
        return self._relay(client, reader, upstream, response_head, method, version, request)

    def _relay(self, client, reader, upstream: _Upstream, response_head: bytes, method: str, version: str,
               request: dict):
        start, headers = parse_head(response_head)
        status = int(start[1])
        while 100 <= status < 200 and status != 101:  # interim answers (100 Continue, 103 Early Hints)
            client.sendall(response_head)
            response_head = read_head(upstream.reader)
            if response_head is None:
                raise BadMessage("the app closed after an interim answer")
            start, headers = parse_head(response_head)
            status = int(start[1])
        response = header_map(headers)
        if status == 101:  # a protocol switch (WebSocket): both ways, byte for byte, until one side ends
            client.sendall(response_head)
            _pipe(client, reader, upstream)
            return False, None
        no_body = method == "HEAD" or status in (204, 304)
        framed = no_body or "content-length" in response or "chunked" in _tokens(response.get("transfer-encoding", ""))
        if not no_body and inject.injectable(method, status, response):
            body = inject.inject(_read_exactly(upstream.reader, int(response["content-length"])), self.feed.seq)
            headers = [(n, str(len(body)) if n.lower() == "content-length" else v) for n, v in headers]
            client.sendall(_head_bytes(start, headers) + body)
        else:
            client.sendall(response_head)
            if not no_body:
                copy_body(upstream.reader, client, response, until_close=not framed)
        upstream_keeps = framed and _keeps_alive(start[0], response)
        client_keeps = framed and _keeps_alive(version, request)
        if not upstream_keeps:
            upstream.close()
            upstream = None
        return client_keeps, upstream

    def _unreachable(self, method: str) -> bytes:
        """A 502 that says why; the script is in it, so an open page reloads once the app serves."""
        body = inject.inject(b"<!doctype html><title>devbox: the app is not answering</title>"
                             b"<h1>The app is not answering</h1><p>devbox waited for it; this page reloads once "
                             b"it serves again.</p>", self.feed.seq)
        return simple_answer("502 Bad Gateway", b"" if method == "HEAD" else body, "text/html; charset=utf-8",
                             [("Connection", "close")])

    # -- the proxy's own paths -------------------------------------------------------------------
    def _own(self, client, method: str, target: str, request: dict) -> bool:
        """Answer /__devbox/...; whether the connection goes on."""
        url = urlsplit(target)
        if url.path == inject.SCRIPT_PATH:
            versioned = parse_qs(url.query).get("v") == [inject.VERSION]
            client.sendall(simple_answer("200 OK", b"" if method == "HEAD" else inject.SCRIPT,
                                         "application/javascript; charset=utf-8",
                                         cache="max-age=31536000, immutable" if versioned else "no-cache"))
            return True
        if url.path == inject.EVENTS_PATH:
            since = request.get("last-event-id") or (parse_qs(url.query).get("since") or [""])[0]
            self._events(client, int(since) if since.strip().isdigit() else self.feed.seq)
            return False
        client.sendall(simple_answer("404 Not Found", b"not a devbox path\n", "text/plain"))
        return True

    def _events(self, client, seq: int) -> None:
        """The live messages after `seq` for this proxy's app, as Server-Sent Events, until the
        page goes away or devbox stops."""
        client.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                       b"Connection: close\r\nX-Accel-Buffering: no\r\n\r\n" + sse.preamble(RETRY_MS))
        while not self._closed.is_set():
            messages = self.feed.since(seq, self.service, PING_S)
            if messages is None:
                return
            if not messages:
                client.sendall(sse.keepalive())
                continue
            for message in messages:
                seq = message["seq"]
                client.sendall(sse.event(seq, json.dumps(message)))


def _keeps_alive(version: str, headers: dict) -> bool:
    connection = _tokens(headers.get("connection", ""))
    if "close" in connection:
        return False
    return version.upper() != "HTTP/1.0" or "keep-alive" in connection


def _pipe(client: socket.socket, client_reader, upstream: _Upstream) -> None:
    """Copy both ways until either side closes (what is already buffered goes first)."""

    def one_way(reader, sock):
        try:
            while True:
                data = reader.read1(CHUNK)
                if not data:
                    break
                sock.sendall(data)
        except OSError:
            pass
        finally:
            try:
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    other = threading.Thread(target=one_way, args=(client_reader, upstream.sock), daemon=True)
    other.start()
    one_way(upstream.reader, client)
    other.join(5.0)
    upstream.close()
