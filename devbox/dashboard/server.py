"""The dashboard's HTTP server: a thread in the agent, bound to 127.0.0.1 only.

| request | answer |
|---|---|
| `GET /?token=T` | 303 to `/`, logging the browser in with a cookie (access.py) |
| `GET /` | the page (assets/index.html); its CSS and script under `/assets/` |
| `GET /events?since=N` | Server-Sent Events: the bus's records after N (devbox/sse.py), then each new one |
| `GET /api/status` | the agent's `status` answer (what `devbox status --json` shows) |
| `POST /api/act` | `{"action": "reload"|"rebuild"|"restart", "service": LABEL}`: the agent's answer |

Everything but the login is refused (403) without the cookie, with a foreign Host header, or,
for a POST, from another origin. Standard library only, and free of the Docker SDK.
"""

from __future__ import annotations

import http.server
import json
import queue
import socketserver
import threading
import urllib.parse
from pathlib import Path
from typing import Callable, Dict, Optional

from devbox.accept_loop import AcceptLoop
from devbox.agent.bus import EventBus
from devbox import sse
from devbox.dashboard.access import Access
from devbox.errors import DevboxError

ASSETS = Path(__file__).parent / "assets"
TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
MAX_BODY = 1 << 16
HOST = "127.0.0.1"
# The page loads nothing from anywhere else, and no other page may frame it.
SECURITY_HEADERS = (
    ("Content-Security-Policy", "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; "
                                "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
)

Status = Callable[[], dict]
Act = Callable[[str, str], dict]


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


class ActionRefused(DevboxError):
    """An action the agent will not do (unknown action or service): a 400 with the reason."""


def asset_names() -> Dict[str, Path]:
    """URL path -> file of every asset served (the screenshots' checksum covers the same files)."""
    return {f"/assets/{p.name}": p for p in sorted(ASSETS.iterdir()) if p.suffix in TYPES}


class Dashboard:
    """The dashboard of one agent. `status()` and `act(action, service)` are the agent's; `hello()`
    says which agent a stream is from. `port` 0 picks a free one."""

    def __init__(self, bus: EventBus, status: Status, act: Act, hello: Callable[[], dict] = dict, port: int = 0):
        self.bus = bus
        self.status = status
        self.act = act
        self.hello = hello
        self.closing = threading.Event()
        self._streams: set = set()
        self._streams_lock = threading.Lock()
        outer = self

        class _Handler(Handler):
            dashboard = outer

        try:
            self._server = _Server((HOST, port), _Handler)
        except OSError as exc:
            raise DevboxError(f"the dashboard cannot listen on {HOST}:{port}: {exc.strerror}",
                              "set another `dashboard.port` in devbox.yml, or 0 to pick a free one") from None
        self.port = self._server.server_address[1]
        self.access = Access(self.port)
        self._loop = AcceptLoop(self._server, "dashboard")

    @property
    def url(self) -> str:
        """The URL that opens it logged in (it carries the token)."""
        return self.access.url()

    @property
    def address(self) -> str:
        return f"http://{HOST}:{self.port}/"

    def start(self) -> "Dashboard":
        self._loop.start()
        return self

    def close(self) -> None:
        """Stop serving; open event streams end (after the records already queued)."""
        self.closing.set()
        with self._streams_lock:
            streams = list(self._streams)
        for subscription in streams:
            subscription.put(None)
        self._loop.close()

    # -- event streams -------------------------------------------------------------------------
    def subscribe(self, since: int):
        subscription = self.bus.subscribe(since=since)
        with self._streams_lock:
            self._streams.add(subscription)
        return subscription

    def unsubscribe(self, subscription) -> None:
        self.bus.unsubscribe(subscription)
        with self._streams_lock:
            self._streams.discard(subscription)


class Handler(http.server.BaseHTTPRequestHandler):
    dashboard: Dashboard
    protocol_version = "HTTP/1.1"
    server_version = "devbox-dashboard"
    sys_version = ""

    def log_message(self, format, *args):  # the agent's output is its events, not an access log
        pass

    # -- the rules -------------------------------------------------------------------------------
    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        access = self.dashboard.access
        if url.path == "/" and "token" in query:
            if not access.host_ok(self.headers.get("Host")):
                return self._refuse("wrong Host header")
            if not access.token_ok(query["token"][0]):
                return self._refuse("wrong token: open the URL `devbox open` prints")
            return self._send(303, b"", "text/plain", extra=(("Location", "/"), ("Set-Cookie", access.set_cookie())))
        why = access.allows("GET", self.headers)
        if why:
            return self._refuse(why)
        if url.path == "/":
            return self._file(ASSETS / "index.html")
        if url.path == "/events":
            return self._events((query.get("since") or [None])[0])
        if url.path == "/api/status":
            return self._json(200, self.dashboard.status())
        asset = asset_names().get(url.path)
        if asset is not None:
            return self._file(asset)
        return self._send(404, b"not found\n", "text/plain; charset=utf-8")

    def do_POST(self):
        why = self.dashboard.access.allows("POST", self.headers)
        if why:
            return self._refuse(why)
        if urllib.parse.urlsplit(self.path).path != "/api/act":
            return self._send(404, b"not found\n", "text/plain; charset=utf-8")
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                raise ValueError("too long")
            body = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(body, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            return self._json(400, {"ok": False, "error": f"bad request: {exc}"})
        try:
            answer = self.dashboard.act(str(body.get("action") or ""), str(body.get("service") or ""))
        except DevboxError as exc:
            return self._json(400, {"ok": False, "error": str(exc)})
        return self._json(200, {"ok": True, **answer})

    def do_PUT(self):
        self._send(405, b"method not allowed\n", "text/plain; charset=utf-8", extra=(("Allow", "GET, POST"),))

    do_DELETE = do_PATCH = do_PUT

    # -- answers -------------------------------------------------------------------------------
    def _refuse(self, why: str) -> None:
        self._send(403, f"forbidden: {why}\n".encode(), "text/plain; charset=utf-8")

    def _send(self, status: int, body: bytes, content_type: str, extra=()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (*SECURITY_HEADERS, *extra):
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: dict) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    def _file(self, path: Path) -> None:
        self._send(200, path.read_bytes(), TYPES[path.suffix])

    def _events(self, since_query: Optional[str]) -> None:
        dashboard = self.dashboard
        since = sse.since(since_query, self.headers.get("Last-Event-ID"), dashboard.bus.seq)
        subscription = dashboard.subscribe(since)
        self.close_connection = True
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            for name, value in SECURITY_HEADERS:
                self.send_header(name, value)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(sse.preamble() + sse.named("hello", dashboard.hello()))
            self.wfile.flush()
            while not dashboard.closing.is_set():
                try:
                    record = subscription.get(timeout=sse.KEEPALIVE_S)
                except queue.Empty:
                    self.wfile.write(sse.keepalive())
                    self.wfile.flush()
                    continue
                if record is None:
                    return
                self.wfile.write(sse.record(record))
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the page went away
        finally:
            dashboard.unsubscribe(subscription)


def assets_digest() -> str:
    """sha256 over every asset's name and bytes: docs/dashboard.sha256 holds the one the
    screenshots were made from (scripts/screenshots), so a changed page asks for new ones."""
    import hashlib

    digest = hashlib.sha256()
    for name, path in asset_names().items():
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
