"""A client that requests without pause across reloads, and keeps what fails."""

import http.client
import threading


class Hammer:
    """`get()` (a new connection each time, returning (status, body)) every 5 ms; a refused or
    reset connection, or a 5xx answer, is a failure."""

    def __init__(self, get):
        self.get = get
        self.failures = []
        self.answered = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._done.is_set():
            try:
                status, body = self.get()
                if status >= 500:
                    self.failures.append("%d %s" % (status, body[:200]))
                else:
                    self.answered += 1
            except (OSError, http.client.HTTPException) as exc:
                self.failures.append(repr(exc))
            self._done.wait(0.005)

    def stop(self):
        self._done.set()
        self._thread.join(15)
