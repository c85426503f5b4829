"""Serving a socketserver server on a thread of its own, asleep while nobody connects.

socketserver's serve_forever() wakes every poll_interval to look for a shutdown request (5
times a second at the 0.2 s the agent's servers would need to stop promptly): a cost at rest.
AcceptLoop sleeps in select() on the listening socket and a pipe instead, with no timeout;
close() writes to the pipe, so stopping is at once too.
"""

from __future__ import annotations

import os
import select
import socketserver
import threading


class AcceptLoop:
    """Accepts on `server` until close(); each request is handled as serve_forever would
    (a ThreadingMixIn server gives each its thread)."""

    def __init__(self, server: socketserver.BaseServer, name: str):
        self.server = server
        self.closing = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)

    def start(self) -> "AcceptLoop":
        self._thread.start()
        return self

    def _serve(self) -> None:
        try:
            while not self.closing.is_set():
                try:
                    ready, _, _ = select.select([self.server, self._wake_r], [], [])
                except InterruptedError:
                    continue
                if self.server in ready and not self.closing.is_set():
                    self.server._handle_request_noblock()  # what serve_forever calls: accept, handle
        except (OSError, ValueError):  # closed under us
            pass

    def close(self, timeout: float = 5.0) -> None:
        """Stop accepting (requests being handled carry on in their threads) and close; once."""
        if self.closing.is_set():
            return  # its fds are closed: closing them again could close someone else's
        self.closing.set()
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=timeout)
        self.server.server_close()
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
