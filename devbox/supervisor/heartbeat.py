"""The lockfile heartbeat: the parent touches it, the child treats a stale one as "parent gone".

This is Bottle's reloader contract, so a `bottle.run(reloader=True)` child checks the same file.
"""

import os
import time

from devbox.supervisor import protocol


class Heartbeat:
    """Parent side: owns the lockfile, touches it every protocol.touch_period(interval) seconds."""

    def __init__(self, path, interval=protocol.DEFAULT_INTERVAL, clock=time.monotonic):
        self.path = path
        self.interval = protocol.touch_period(interval)
        self._clock = clock
        self._due = 0.0

    def start(self):
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        os.close(fd)
        self.beat()

    def beat(self):
        """Touch the lockfile if a beat is due (cheap to call on every loop turn)."""
        now = self._clock()
        if now < self._due:
            return
        try:
            os.utime(self.path, None)
        except FileNotFoundError:
            # Someone cleaned /tmp: recreate it, or every child would take us for dead.
            self.start()
            return
        self._due = now + self.interval

    def seconds_until_due(self):
        return max(0.0, self._due - self._clock())

    def remove(self):
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def is_stale(path, interval, now=None):
    """True when the lockfile is missing or older than the contract allows: the parent is gone."""
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        return True
    if now is None:
        now = time.time()
    return mtime < now - protocol.stale_after(interval)
