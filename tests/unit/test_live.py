"""The live-reload injector and feed (devbox/live/), and the proxy against a real local HTTP
server: only complete, uncompressed HTML is touched; everything else passes byte for byte."""

import http.server
import socket
import threading

import pytest

from devbox import events
from devbox.live import inject, read_label
from devbox.live.feed import Feed, message_of
from devbox.live.proxy import LiveProxy
from devbox.live.upstream import Upstream

PAGE = b"<!doctype html><html><head><title>t</title></head><body><p>hi</p></body></html>"


def test_the_tag_goes_before_the_end_of_head():
    out = inject.inject(PAGE, 7)
    assert out.count(b"<script") == 1
    assert b'data-seq="7" async></script></head>' in out


def test_without_head_the_tag_goes_before_the_last_end_of_body_else_at_the_end():
    assert inject.inject(b"<body>a</body>x</BODY>", 1).endswith(b'data-seq="1" async></script></BODY>')
    assert inject.inject(b"<p>fragment", 2).endswith(b'data-seq="2" async></script>')


@pytest.mark.parametrize("method,status,headers,expected", [
    ("GET", 200, {"content-type": "text/html; charset=utf-8", "content-length": "10"}, True),
    ("GET", 500, {"content-type": "text/html", "content-length": "10"}, True),  # the error page too
    ("POST", 200, {"content-type": "text/html", "content-length": "10"}, False),
    ("GET", 200, {"content-type": "text/html", "transfer-encoding": "chunked"}, False),
    ("GET", 200, {"content-type": "text/html"}, False),  # delimited by close: streamed
    ("GET", 200, {"content-type": "text/html", "content-length": "10", "content-encoding": "gzip"}, False),
    ("GET", 200, {"content-type": "application/json", "content-length": "10"}, False),
    ("GET", 206, {"content-type": "text/html", "content-length": "10", "content-range": "bytes 0-9/99"}, False),
    ("GET", 304, {"content-type": "text/html", "content-length": "10"}, False),
])
def test_which_answers_get_the_script(method, status, headers, expected):
    assert inject.injectable(method, status, headers) is expected


def test_events_become_live_messages():
    assert message_of({"event": events.RELOADED, "paths": ["app.py"]})["kind"] == "reload"
    assert message_of({"event": events.RELOADED, "paths": ["static/a.css"]})["kind"] == "css"
    assert message_of({"event": events.SYNCED, "paths": ["static/a.css", "static/b.css"]})["kind"] == "css"
    assert message_of({"event": events.SYNCED, "paths": ["static/a.js"]})["kind"] == "reload"
    failed = message_of({"event": events.RELOAD_FAILED, "paths": ["app.py"], "summary": "app.py:3: SyntaxError",
                         "error": "SyntaxError: invalid syntax", "file": "app.py", "line": 3})
    assert (failed["kind"], failed["file"], failed["line"]) == ("failed", "app.py", 3)
    assert message_of({"event": events.BATCH, "paths": ["app.py"]}) is None  # not served yet: nothing to do


def test_the_feed_replays_what_came_after_a_pages_number_for_its_service_only():
    feed = Feed()
    feed({"event": events.RELOADED, "paths": ["a.py"]})
    feed({"event": events.RELOADED, "paths": ["b.py"], "service": "api"})
    feed({"event": events.RELOADED, "paths": ["c.py"]})
    assert [m["paths"] for m in feed.since(1, "", 0.0)] == [["c.py"]]
    assert [m["paths"] for m in feed.since(0, "api", 0.0)] == [["b.py"]]
    assert feed.since(3, "", 0.01) == []
    feed.close()
    assert feed.since(3, "", 1.0) is None


def test_the_label_names_the_url_the_proxy_serves():
    from devbox.live import live_label

    assert read_label({"devbox.live": live_label((("127.0.0.1", 8000, 80),))}) == [(80, "http://127.0.0.1:8000")]
    assert read_label({}) == [] and read_label({"devbox.live": "not json"}) == []


# -- the proxy, in front of a real server -------------------------------------------------------

BODIES = {
    "/page": ("text/html; charset=utf-8", PAGE, None),
    "/data": ("application/json", b'{"a": 1}', None),
    "/gz": ("text/html", b"\x1f\x8b\x08\x00binary", "gzip"),
}


class App(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/stream":
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"<html><head></head>", b"<body>streamed</body></html>"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
            return
        kind, body, encoding = BODIES[self.path]
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.posts.append(body)
        self.send_response(201)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def proxied():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), App)
    server.posts = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    feed = Feed()
    proxy = LiveProxy(("127.0.0.1", 0), Upstream(lambda: server.server_address), feed).bind().start()
    yield proxy, server, feed
    proxy.close()
    server.shutdown()
    server.server_close()


def raw(port, request: bytes) -> bytes:
    """What the proxy answers to `request` (which ends with Connection: close)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                return b"".join(chunks)
            chunks.append(data)


def get(port, path):
    return raw(port, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())


def test_the_proxy_injects_into_a_page_and_passes_the_rest_byte_for_byte(proxied):
    proxy, server, feed = proxied
    port = proxy.listen[1]
    page = get(port, "/page")
    head, _, body = page.partition(b"\r\n\r\n")
    assert body == inject.inject(PAGE, feed.seq)
    assert f"Content-Length: {len(body)}".encode() in head
    assert get(port, "/data").endswith(b'\r\n\r\n{"a": 1}')
    assert get(port, "/gz").endswith(b"\r\n\r\n\x1f\x8b\x08\x00binary")
    streamed = get(port, "/stream")
    assert b"Transfer-Encoding: chunked" in streamed and b"<script" not in streamed
    assert streamed.endswith(b"\r\n\r\n13\r\n<html><head></head>\r\n1c\r\n<body>streamed</body></html>\r\n0\r\n\r\n")


def test_keep_alive_requests_and_a_post_go_through_once(proxied):
    proxy, server, _ = proxied
    two = (b"GET /data HTTP/1.1\r\nHost: x\r\n\r\n"
           b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
           b"GET /data HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    out = raw(proxy.listen[1], two)
    assert out.count(b"HTTP/1.1 200") == 2 and out.count(b"HTTP/1.1 201") == 1
    assert server.posts == [b"hello"]


def test_the_event_stream_sends_what_came_after_since(proxied):
    proxy, _, feed = proxied
    feed({"event": events.RELOADED, "paths": ["a.py"]})
    with socket.create_connection(("127.0.0.1", proxy.listen[1]), timeout=5) as sock:
        sock.sendall(b"GET /__devbox/events?since=0 HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while b'"seq": 1' not in received:
            received += sock.recv(65536)
        assert b"text/event-stream" in received and b'"kind": "reload"' in received


def test_a_refused_upstream_is_waited_for_then_a_502_that_reloads():
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    address = closed.getsockname()
    closed.close()  # nothing listens there
    proxy = LiveProxy(("127.0.0.1", 0), Upstream(lambda: address, patience=0.3), Feed()).bind().start()
    try:
        out = get(proxy.listen[1], "/")
        assert out.startswith(b"HTTP/1.1 502") and inject.SCRIPT_PATH.encode() in out
    finally:
        proxy.close()
