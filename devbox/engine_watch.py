"""The one detector of faults under a running project: Docker's event stream (`GET /events`,
filtered by the project's label). It tells at once, without polling, that a project container
died or (re)started, and, when the stream breaks and a ping finds no engine, that the engine
went away (a local dockerd stopping, an ssh connection to a remote one dropping) and later
that it answers again.

It reports what the engine says (CONTAINER_EXITED, CONTAINER_STARTED) and hands every fact
to its listener, devbox.recovery, which decides what to do about it and says so. Nothing here
restarts anything.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Optional, Protocol

from devbox import events


class Listener(Protocol):
    """What the watch tells (devbox.recovery.Recovery is one); each call returns at once."""

    def died(self, container_id: str) -> None: ...

    def started(self, container_id: str) -> None: ...

    def lost(self, error: str) -> None:
        """The stream broke and the engine does not answer a ping."""

    def back(self) -> None:
        """After `lost`: the engine answers again, and the stream is followed from where it broke."""

    def resync(self) -> None:
        """The stream broke but the engine answered at once: events may have been missed."""


def label_filter(cfg) -> str:
    """The label every container of the project carries: compose's project label, or devbox's."""
    if cfg.compose:
        from devbox.compose.labels import COMPOSE_PROJECT

        return f"{COMPOSE_PROJECT}={cfg.compose.project_name}"
    from devbox.plan import LABEL_PROJECT

    return f"{LABEL_PROJECT}={cfg.name}"


class EngineWatch:
    """Follows the engine's container events for one label in a daemon thread."""

    def __init__(self, client, url: str, label: str, report: Callable[..., None],
                 listener: Optional[Listener] = None, backoff: Callable[[int], float] = lambda attempt: 1.0):
        self.client = client
        self.url = url
        self.label = label
        self.report = report
        self.listener = listener or _Nobody()
        self.backoff = backoff  # seconds before the n-th ping of a lost engine (recovery's policy)
        self._stop = threading.Event()
        self._stream = None
        self._thread = threading.Thread(target=self._run, name="engine-events", daemon=True)

    def start(self) -> "EngineWatch":
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self.recheck()
        self._thread.join(timeout=2.0)

    def recheck(self) -> None:
        """Drop the stream and ping again: a call elsewhere found no engine, which the stream
        (an idle connection) may not have noticed yet."""
        stream = self._stream
        if stream is not None:
            try:
                stream.close()
            except Exception:  # noqa: BLE001 - the connection may already be gone
                pass

    def _run(self) -> None:
        since: Optional[int] = None
        last_nano = 0  # `since` is in whole seconds: events already told come again; skipped by time
        broke = lost = False
        attempt = 0
        while not self._stop.is_set():
            try:
                if broke:
                    self.client.ping()
                self._stream = self.client.events(decode=True, since=since,
                                                  filters={"type": "container", "label": self.label})
                if lost:
                    self.listener.back()
                elif broke:
                    self.listener.resync()
                broke = lost = False
                attempt = 0
                for event in self._stream:
                    nano = int(event.get("timeNano") or 0)
                    if nano and nano <= last_nano:
                        continue
                    last_nano = max(last_nano, nano)
                    since = int(event.get("time") or time.time())
                    self._one(event)
                if self._stop.is_set():
                    return
                raise ConnectionError("the engine closed its event stream")
            except Exception as exc:  # noqa: BLE001 - every way of losing the engine reads the same
                if self._stop.is_set():
                    return
                if not broke:  # first ask again at once: maybe only this connection dropped
                    broke = True
                    continue
                if not lost:
                    lost = True
                    self.listener.lost(first_line(exc))
                self._stop.wait(self.backoff(attempt))
                attempt += 1

    def _one(self, event: dict) -> None:
        action = event.get("Action") or event.get("status") or ""
        actor = event.get("Actor") or {}
        attrs = actor.get("Attributes") or {}
        name, cid = attrs.get("name", ""), actor.get("ID") or event.get("id") or ""
        if action == "die":
            code = attrs.get("exitCode")
            self.report(events.CONTAINER_EXITED, name=name, id=cid[:12],
                        exit_code=int(code) if str(code).lstrip("-").isdigit() else code)
            self.listener.died(cid)
        elif action == "start":
            self.report(events.CONTAINER_STARTED, name=name, id=cid[:12])
            self.listener.started(cid)


class _Nobody:
    """No listener: the watch only reports."""

    def died(self, container_id: str) -> None:
        pass

    started = died

    def lost(self, error: str) -> None:
        pass

    def back(self) -> None:
        pass

    resync = back


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
