"""Who may use the dashboard. Pure rules, no I/O: the server asks, these answer.

Anyone on the machine can connect to a port on 127.0.0.1, and any page in the user's browser
can make it send requests there, so the port alone proves nothing. What does:

- a secret token, made when the agent starts and known only to whoever can reach the agent's
  0600 socket (`devbox status`, `devbox open`) or saw the agent's own output (`devbox up`). The
  URL it prints carries it once (`/?token=...`); the server swaps it for an HttpOnly,
  SameSite=Strict cookie and redirects to the bare URL, so the token stays out of the address
  bar, the history and the page's script. Any other request without the cookie is refused (403);
- the Host header must name this server (127.0.0.1:PORT or localhost:PORT): a rebinding DNS
  name that points at 127.0.0.1 is refused, even with a cookie the browser would not send it;
- a POST must come from the page itself: its Origin, when the browser sends one (it always does
  for a fetch POST), must be this server, and its body JSON (which no cross-site form can send).
"""

from __future__ import annotations

import hmac
import secrets
from http import cookies
from typing import Mapping, Optional

COOKIE = "devbox_dashboard"
TOKEN_BYTES = 24
HOSTS = ("127.0.0.1", "localhost")


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


class Access:
    """The rules for one dashboard on `port`, whose secret is `token`."""

    def __init__(self, port: int, token: Optional[str] = None):
        self.port = port
        self.token = token or new_token()
        self.origins = tuple(f"http://{host}:{port}" for host in HOSTS)

    def host_ok(self, host: Optional[str]) -> bool:
        """The Host header names this server (not a DNS name that happens to reach it)."""
        return (host or "").strip().lower() in tuple(f"{h}:{self.port}" for h in HOSTS)

    def token_ok(self, token: Optional[str]) -> bool:
        return bool(token) and hmac.compare_digest(str(token).encode(), self.token.encode())

    def cookie_ok(self, header: Optional[str]) -> bool:
        """The request's Cookie header carries our cookie with the secret."""
        if not header:
            return False
        jar = cookies.SimpleCookie()
        try:
            jar.load(header)
        except cookies.CookieError:
            return False
        morsel = jar.get(COOKIE)
        return morsel is not None and self.token_ok(morsel.value)

    def set_cookie(self) -> str:
        """The Set-Cookie header value that logs the browser in."""
        return f"{COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/"

    def origin_ok(self, origin: Optional[str]) -> bool:
        """A POST's Origin: absent (not a browser) or this server; never another site or `null`."""
        return origin is None or origin.rstrip("/").lower() in self.origins

    def allows(self, method: str, headers: Mapping[str, str]) -> Optional[str]:
        """None when a request (past the login) may go on, else why not, in a few words."""
        if not self.host_ok(headers.get("Host")):
            return "wrong Host header"
        if not self.cookie_ok(headers.get("Cookie")):
            return "not logged in: open the URL `devbox open` prints"
        if method == "POST":
            if not self.origin_ok(headers.get("Origin")):
                return "a request from another site"
            if (headers.get("Content-Type") or "").split(";")[0].strip().lower() != "application/json":
                return "a POST must be JSON"
        return None

    def url(self, host: str = "127.0.0.1") -> str:
        """The URL to open: it logs the browser in."""
        return f"http://{host}:{self.port}/?token={self.token}"
