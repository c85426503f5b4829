"""Connecting to the app behind the proxy, patiently while it restarts.

The supervisor holds the app's socket through a reload, so a reload refuses nothing; what
refuses is the container itself being started again (recovery, a rebuild, a changed devbox.yml),
and then the engine may publish the app's port at another port. So a refused connection asks
`resolve` where the app is now (at most every RESOLVE_EVERY_S) and tries again, up to
CONNECT_PATIENCE_S, before the proxy answers 502: a page load waits for the app instead of
showing a refused connection.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Callable, Optional, Tuple

Address = Tuple[str, int]
CONNECT_PATIENCE_S = 30.0
RESOLVE_EVERY_S = 0.25
RETRY_STEP_S = 0.02
CONNECT_TIMEOUT_S = 5.0


class Unreachable(OSError):
    """The app did not accept a connection within the patience."""


class Upstream:
    """Where the app is: `resolve()` says (None: not known yet), asked again after a refusal."""

    def __init__(self, resolve: Callable[[], Optional[Address]], patience: float = CONNECT_PATIENCE_S):
        self.resolve = resolve
        self.patience = patience
        self._address: Optional[Address] = None
        self._resolved_at = 0.0
        self._lock = threading.Lock()
        self.closed = threading.Event()

    def address(self, fresh: bool = False) -> Optional[Address]:
        with self._lock:
            now = time.monotonic()
            if self._address is None or (fresh and now - self._resolved_at >= RESOLVE_EVERY_S):
                self._resolved_at = now
                try:
                    self._address = self.resolve() or self._address
                except Exception:  # noqa: BLE001 - the engine may be gone for a moment: ask again later
                    pass
            return self._address

    def moved(self, address: Address) -> None:
        """The app is now at `address` (a recreated container, a reopened forward)."""
        with self._lock:
            self._address, self._resolved_at = address, time.monotonic()

    def connect(self) -> socket.socket:
        """A connected socket to the app; Unreachable after the patience."""
        deadline = time.monotonic() + self.patience
        fresh = False
        last: Optional[BaseException] = None
        while not self.closed.is_set():
            address = self.address(fresh)
            if address is not None:
                try:
                    sock = socket.create_connection(address, timeout=CONNECT_TIMEOUT_S)
                    sock.settimeout(None)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    return sock
                except OSError as exc:  # refused, reset, unreachable: the app is (re)starting
                    last = exc
            fresh = True
            if time.monotonic() >= deadline:
                break
            self.closed.wait(RETRY_STEP_S)
        raise Unreachable(f"the app did not accept a connection within {self.patience:g} s"
                          + (f" ({last})" if last else ""))
