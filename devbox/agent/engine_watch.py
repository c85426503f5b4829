"""The engine's word on the project's containers, for the agent's event stream: a container
that died or (re)started, the engine itself going away and coming back. Docker's event stream
(`GET /events`, filtered by the project's label) tells this at once; nothing polls.

It reports; recovering from what it reports (following a restarted container's output again)
is the targets' business.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Optional

from devbox import events

RETRY_S = 1.0  # between attempts to reach a lost engine


def label_filter(cfg) -> str:
    """The label every container of the project carries: compose's project label, or devbox's."""
    if cfg.compose:
        from devbox.compose.labels import COMPOSE_PROJECT

        return f"{COMPOSE_PROJECT}={cfg.compose.project_name}"
    from devbox.plan import LABEL_PROJECT

    return f"{LABEL_PROJECT}={cfg.name}"


class EngineWatch:
    """Follows the engine's container events for one label in a daemon thread, reporting them."""

    def __init__(self, client, url: str, label: str, report: Callable[..., None]):
        self.client = client
        self.url = url
        self.label = label
        self.report = report
        self._stop = threading.Event()
        self._stream = None
        self._thread = threading.Thread(target=self._run, name="engine-events", daemon=True)

    def start(self) -> "EngineWatch":
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        stream = self._stream
        if stream is not None:
            try:
                stream.close()
            except Exception:  # noqa: BLE001 - the connection may already be gone
                pass
        self._thread.join(timeout=2.0)

    def _run(self) -> None:
        since: Optional[int] = None
        lost = False
        while not self._stop.is_set():
            try:
                if lost:
                    self.client.ping()
                    lost = False
                    self.report(events.ENGINE_STREAM_BACK, url=self.url)
                self._stream = self.client.events(decode=True, since=since,
                                                  filters={"type": "container", "label": self.label})
                for event in self._stream:
                    since = int(event.get("time") or time.time())
                    self._one(event)
                if self._stop.is_set():
                    return
                raise ConnectionError("the engine closed its event stream")
            except Exception as exc:  # noqa: BLE001 - every way of losing the engine reads the same
                if self._stop.is_set():
                    return
                if not lost:
                    lost = True
                    self.report(events.ENGINE_STREAM_LOST, url=self.url, error=_first_line(exc))
                self._stop.wait(RETRY_S)

    def _one(self, event: dict) -> None:
        action = event.get("Action") or event.get("status") or ""
        actor = event.get("Actor") or {}
        attrs = actor.get("Attributes") or {}
        name, cid = attrs.get("name", ""), (actor.get("ID") or event.get("id") or "")[:12]
        if action == "die":
            code = attrs.get("exitCode")
            self.report(events.CONTAINER_EXITED, name=name, id=cid,
                        exit_code=int(code) if str(code).lstrip("-").isdigit() else code)
        elif action == "start":
            self.report(events.CONTAINER_STARTED, name=name, id=cid)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
