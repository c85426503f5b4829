"""What serves now, read from the bus, and `devbox wait`'s answer.

"What is on disk now is what serves" means, for a wait asked at time T:

1. every change written before T has been seen and acted on: the watcher's loop is sequential
   (collect a batch, act on it, collect again), so once a collect that *began after T* finds
   nothing pending, every earlier change has gone through a finished action (watch.Watcher
   counts its collects in `polls` and calls `on_quiet(n)` for an empty one; `hurry` makes idle
   collects one step long while someone waits);
2. and nothing says otherwise: every app (each compose service) is serving its newest
   generation (its last ready/crashed event was ready), no action failed since its last
   success (a copy, a rebuild, a reload that timed out), devbox.yml is applied, and the
   containers and the engine are there.

Point 1 is the sequence counter; point 2 is the state below, kept per label.
"""

from __future__ import annotations

import threading
import time
from typing import Dict, List, Optional, Tuple

from devbox import events
from devbox.agent.bus import Record
from devbox.supervisor import protocol

RELOAD_HISTORY = protocol.RELOAD_HISTORY

_CLEARS = {  # event -> the kind of problem it ends for its label
    events.RELOADED: "action", events.SYNCED: "action", events.REBUILT: "action",
    events.REBUILD_UNCHANGED: "action", events.CONFIG_APPLIED: "config", events.CONFIG_UNCHANGED: "config",
    events.CONTAINER_STARTED: "container", events.CONTAINER_RESTARTED: "healing",
}


def _key(kind: str, r: Record) -> Tuple[str, str]:
    """A problem's key: an action's is its service's, a container's its name; devbox.yml and
    the engine are one per project."""
    if kind == "action":
        return kind, str(r.get("service") or "")
    if kind in ("container", "healing"):
        return kind, str(r.get("name"))
    return kind, ""


class Progress:
    """A bus reader (`progress(record)`) that knows what serves, and answers waits."""

    def __init__(self):
        self._cond = threading.Condition()
        self.serving = False
        self.ended: Optional[str] = None  # why the agent ends (failed or stopped), once it does
        self.apps: Dict[str, Tuple[int, Optional[str]]] = {}  # label -> (generation, crash summary or None)
        self.problems: Dict[Tuple[str, str], str] = {}  # (kind, label) -> the first line saying so
        self.reloads = 0
        self.reload_ms: List[float] = []
        self.quiet = 0  # the newest watcher collect that found nothing pending

    # -- reading the bus -----------------------------------------------------------------------
    def __call__(self, record: Record) -> None:
        with self._cond:
            self._read(record)
            self._cond.notify_all()

    def _read(self, r: Record) -> None:
        event, label = r["event"], str(r.get("service") or "")
        if event == events.SERVING:
            self.serving = True
        elif event in (events.AGENT_FAILED, events.AGENT_STOPPED):
            self.ended = str(r.get("error") or "the agent stopped")
        elif event == events.SUPERVISOR and r.get("kind") in (protocol.EVENT_READY, protocol.EVENT_CRASHED):
            self._app(label, r, crashed=r.get("kind") == protocol.EVENT_CRASHED)
        elif event in (events.RELOADED, events.RELOAD_FAILED):
            self._app(label, r, crashed=event == events.RELOAD_FAILED)
            if event == events.RELOADED:
                self.reloads += 1
                self.reload_ms = (self.reload_ms + [float(r.get("ms") or 0.0)])[-RELOAD_HISTORY:]
        elif event in (events.ACTION_FAILED, events.SYNC_FAILED):
            self.problems[_key("action", r)] = str(r.get("error"))
        elif event == events.RELOAD_TIMEOUT:
            self.problems[_key("action", r)] = f"the app did not answer within {r.get('seconds')} s of the reload"
        elif event == events.CONFIG_INVALID:
            self.problems[_key("config", r)] = str(r.get("error"))
        elif event == events.CONFIG_RESTART:
            self.problems[_key("config", r)] = f"devbox.yml changed ({r.get('reason')}); restart devbox to apply it"
        elif event == events.CONTAINER_EXITED:
            self.problems[_key("container", r)] = f"container {r.get('name')} exited (status {r.get('exit_code')})"
        elif event in (events.CONTAINER_STOPPED, events.CONTAINER_DOWN):
            self.problems[_key("healing", r)] = f"container {r.get('name')} stopped ({r.get('reason')})"
        elif event == events.ENGINE_LOST:
            self.problems[_key("engine", r)] = f"lost the Docker engine at {r.get('url')}: {r.get('error')}"
        elif event == events.ENGINE_BACK:  # until the containers are back: they say so
            self.problems[_key("engine", r)] = f"the Docker engine at {r.get('url')} is back; bringing the containers back"
        if event == events.CONTAINER_RESTARTED:
            self.problems.pop(_key("engine", r), None)
        if event in _CLEARS:
            self.problems.pop(_key(_CLEARS[event], r), None)

    def _app(self, label: str, r: Record, crashed: bool) -> None:
        generation = int(r.get("generation") or 0)
        known, _ = self.apps.get(label, (0, None))
        if generation and generation < known:
            return  # a late line about a generation already replaced
        summary = str(r.get("summary") or f"the app exited with status {r.get('status')}")
        self.apps[label] = (generation or known, summary if crashed else None)

    def at_quiet(self, poll: int) -> None:
        """The watcher's on_quiet."""
        with self._cond:
            self.quiet = max(self.quiet, poll)
            self._cond.notify_all()

    # -- answers -------------------------------------------------------------------------------
    def failure(self) -> Optional[str]:
        """The first thing that says what is on disk does not serve, or None."""
        for label, (_, crash) in sorted(self.apps.items()):
            if crash:
                return f"{label}: {crash}" if label else crash
        for (kind, label), message in sorted(self.problems.items()):
            return f"{label}: {message}" if label and kind == "action" else message
        return None

    def wait(self, polls_now: int, timeout: float) -> dict:
        """Block until the collect after `polls_now` found nothing pending and the project
        serves; {"state": "settled"|"failed"|"timeout"|"ended", "error": first line, ...}."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (self.ended or (self.serving and self.quiet > polls_now)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return {"state": "timeout", "error": self.failure() or "", "project_up": self.serving}
                self._cond.wait(remaining)
            if self.ended:
                return {"state": "ended", "error": self.ended}
            error = self.failure()
            generations = {label: gen for label, (gen, _) in self.apps.items()}
            return {"state": "failed" if error else "settled", "error": error or "", "generations": generations}

    def stats(self) -> dict:
        import statistics  # here: ~7 ms at import, for a status request

        with self._cond:
            p50 = statistics.median(self.reload_ms) if self.reload_ms else None
            return {"reloads": self.reloads, "reload_p50_ms": p50, "failure": self.failure()}
