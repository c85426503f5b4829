"""The agent's events as live messages for the pages open in a browser.

A bus reader: each record that changes what a page should show becomes one message, numbered
from 1 and kept (the last KEEP), so a page that connects late asks for what came after the
message it was answered with (inject.tag's `data-seq`) and misses nothing.

- `reload`: the new code serves (RELOADED comes after the supervisor's ready, which comes after
  the new child answered), a rebuild or a restart is serving again, or a synced file a page may
  show changed;
- `css`: only stylesheets changed: the page swaps them without a reload;
- `failed`: the new code failed to load: the page shows the exception, file and line over
  itself, and reloads on the next good save.
"""

from __future__ import annotations

import collections
import threading
from typing import Deque, List, Optional

from devbox import events

KEEP = 200
_RELOADS = (events.REBUILT, events.CONTAINER_RESTARTED, events.CONFIG_APPLIED)


def _css_only(paths) -> bool:
    return bool(paths) and all(str(p).lower().endswith(".css") for p in paths)


def message_of(record: dict) -> Optional[dict]:
    """The live message a bus record means, or None."""
    event = record.get("event")
    paths = list(record.get("paths") or [])
    if event in (events.RELOADED, events.SYNCED):
        return {"kind": "css", "paths": paths} if _css_only(paths) else {"kind": "reload", "paths": paths}
    if event == events.RELOAD_FAILED:
        return {"kind": "failed", "paths": paths, "summary": record.get("summary") or "",
                "error": record.get("error") or "", "file": record.get("file") or "",
                "line": record.get("line") or ""}
    if event in _RELOADS:
        return {"kind": "reload", "paths": []}
    return None


class Feed:
    """Live messages, per compose service (label "" for a single container)."""

    def __init__(self, keep: int = KEEP):
        self.seq = 0
        self._kept: Deque[dict] = collections.deque(maxlen=keep)
        self._cond = threading.Condition()
        self.closed = False

    def __call__(self, record: dict) -> None:
        """The bus reader."""
        message = message_of(record)
        if message is not None:
            self.put(message, str(record.get("service") or ""))

    def put(self, message: dict, service: str = "") -> dict:
        with self._cond:
            self.seq += 1
            message = {**message, "seq": self.seq, "service": service}
            self._kept.append(message)
            self._cond.notify_all()
            return message

    def since(self, seq: int, service: str, timeout: float) -> Optional[List[dict]]:
        """The messages for `service` after `seq`, waiting up to `timeout` for one; [] when none
        came, None once the feed is closed."""
        with self._cond:
            found = self._after(seq, service)
            if not found and not self.closed:
                self._cond.wait_for(lambda: self.closed or self._after(seq, service), timeout)
                found = self._after(seq, service)
            return None if self.closed and not found else found

    def _after(self, seq: int, service: str) -> List[dict]:
        return [m for m in self._kept if m["seq"] > seq and m["service"] == service]

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()
