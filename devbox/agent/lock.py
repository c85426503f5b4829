"""One agent per project: an exclusive flock on agent.lock, held for the agent's whole life.

The kernel drops the lock when the process ends, however it ends (SIGKILL included), so a
stale lock cannot outlive its agent the way a pid file can.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Optional


class AgentLock:
    def __init__(self, path: Path):
        self.path = path
        self._fd: Optional[int] = None

    def acquire(self) -> bool:
        """Take the lock without waiting; False when another process holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last fd drops the flock
            self._fd = None

    def held_elsewhere(self) -> bool:
        """True while some other process holds the lock (an agent runs)."""
        if self._fd is not None:
            return False
        if not self.acquire():
            return True
        self.release()
        return False

    def __enter__(self) -> "AgentLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()
