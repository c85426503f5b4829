"""What devbox does when the container stops underneath it or the engine goes away.

Both are seen the same way, without polling: the container's log stream (followed anyway for
the supervisor's events) ends. An inspect then says which: the container exited (its status,
OOMKilled) or the engine does not answer (a refused or reset connection). The container is
started again as `devbox up` would start it (the project as it is now: copy sync proves the
tree); the engine is waited for with back-off, said once when lost and once when back.

A container that keeps dying right after its start is not restarted in a loop: after
`RAPID_DEATHS` deaths, each within `RAPID_UPTIME_S` of its start, devbox says so and waits for a
save, which tries once more.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, List, Optional

RAPID_UPTIME_S = 10.0  # a death this soon after a start counts towards giving up
RAPID_DEATHS = 3
ENGINE_BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0)  # then every last one


@dataclass
class Stopped:
    """Why the container is not running, from its inspect State."""

    status: str  # "exited", "dead", "removed"...
    exit_code: Optional[int] = None
    oom: bool = False
    error: str = ""

    @classmethod
    def of_state(cls, state: dict) -> "Stopped":
        return cls(status=state.get("Status") or "exited", exit_code=state.get("ExitCode"),
                   oom=bool(state.get("OOMKilled")), error=(state.get("Error") or "").strip())

    def reason(self) -> str:
        """In words: 'killed by the kernel (out of memory)', 'exit status 137 (SIGKILL)'..."""
        if self.status == "removed":
            return "removed"
        if self.oom:
            return f"killed for using too much memory (OOMKilled, exit status {self.exit_code})"
        if self.exit_code is None:
            return self.error or self.status
        text = f"exit status {self.exit_code}"
        if self.exit_code is not None and self.exit_code > 128:
            import signal

            try:
                text += f" ({signal.Signals(self.exit_code - 128).name})"
            except ValueError:
                pass
        return text + (f": {self.error}" if self.error else "")


class CrashPolicy:
    """Decides whether a container that just died is restarted now."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.started_at = clock()
        self._rapid: List[float] = []

    def started(self) -> None:
        self.started_at = self.clock()

    def died(self) -> bool:
        """Record a death; True to restart now, False to wait for a save."""
        now = self.clock()
        if now - self.started_at > RAPID_UPTIME_S:
            self._rapid.clear()
        self._rapid.append(now)
        return len(self._rapid) < RAPID_DEATHS

    def retry(self) -> None:
        """A save after giving up: the caller starts it once more, and one more rapid death gives
        up again."""
        self._rapid = self._rapid[-(RAPID_DEATHS - 1):]
        self.started()


def engine_lost(exc: BaseException) -> bool:
    """Whether `exc` (from docker-py) means the engine does not answer: a refused, reset or
    vanished connection somewhere down its chain."""
    import requests

    while exc is not None:
        if isinstance(exc, (requests.exceptions.ConnectionError, ConnectionError)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def wait_for_engine(ping: Callable[[], object], stop: Callable[[], bool],
                    sleep: Callable[[float], object]) -> bool:
    """Ping with back-off until the engine answers (True) or `stop()` (False)."""
    attempt = 0
    while not stop():
        try:
            ping()
            return True
        except Exception:  # noqa: BLE001 - anything but an answer (refused, reset, a 5xx while it starts): not yet
            pass
        sleep(ENGINE_BACKOFF_S[min(attempt, len(ENGINE_BACKOFF_S) - 1)])
        attempt += 1
    return False
