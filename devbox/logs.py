"""A container's output as lines: supervisor events parsed, app lines passed on.

One reader thread follows the log stream; waiters block on a condition until the event they want
arrives (readiness after a reload, a crash), with a deadline.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Callable, Iterable, Iterator, List, Optional, Tuple

from devbox import docker_time, events
from devbox.errors import EngineError
from devbox.supervisor import protocol

Event = Tuple[str, dict, float]  # kind, fields, host arrival time (time.time())
# What a reload or a start ends in: the new child serves (the app or its error page).
READY_EVENTS = (protocol.EVENT_READY, protocol.EVENT_CRASHED)


_LOCATED = re.compile(r"^(?P<file>[^\s:][^:]*):(?P<line>\d+): (?P<error>.+)$")


def crash_details(summary: str) -> dict:
    """A crashed event's one-line summary (errorpage's "FILE:LINE: Error: message", or just
    "Error: message") as fields: summary, error, and file and line when it names them."""
    summary = (summary or "").strip()
    located = _LOCATED.match(summary)
    if located:
        return {"summary": summary, "error": located["error"], "file": located["file"], "line": int(located["line"])}
    return {"summary": summary, "error": summary, "file": None, "line": None}


def split_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """Decoded lines of a byte stream whose chunks break anywhere (a line may span chunks); the
    last one is yielded even without its newline."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for raw in lines:
            yield raw.decode("utf-8", "replace").rstrip("\r")
    if pending:
        yield pending.decode("utf-8", "replace")


class LogStream:
    """Follows `chunks` (an iterator of bytes) in a daemon thread.

    `on_line(text)` gets every line that is not a supervisor event; `on_event(kind, fields)` every
    event. Waiters use `wait_for`.
    """

    def __init__(self, chunks, on_line: Callable[[str], None], on_event: Callable[[str, dict], None],
                 name: str = "logs"):
        self._chunks = chunks
        self._on_line = on_line
        self._on_event = on_event
        self._events: List[Event] = []
        self._cond = threading.Condition()
        self.ended = False
        self.generation = 0  # the newest supervisor generation seen ready or crashed
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> "LogStream":
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            for line in split_lines(self._chunks):
                self._dispatch(line)
        except Exception:  # noqa: BLE001 - the stream ends when the container or connection goes
            pass
        finally:
            with self._cond:
                self.ended = True
                self._cond.notify_all()

    def _dispatch(self, line: str) -> None:
        parsed = protocol.parse_event(line)
        if parsed is None:
            self._on_line(line)
            return
        kind, fields = parsed
        if kind == protocol.EVENT_CRASHED:
            fields.update(crash_details(fields.pop("message", "")))
        with self._cond:
            if kind == protocol.EVENT_STARTED:  # a new supervisor (the container started again): it counts from 1
                self.generation = 0
            elif kind in READY_EVENTS:
                self.generation = max(self.generation, int(fields.get("generation", 0) or 0))
            self._events.append((kind, fields, time.time()))
            self._cond.notify_all()
        self._on_event(kind, fields)

    def close(self) -> None:
        """Stop following (the reader thread ends; waiters see `ended`)."""
        close = getattr(self._chunks, "close", None)
        if close is not None:
            try:
                close()
            except Exception:  # noqa: BLE001 - already closed or the connection is gone
                pass

    def wait_ended(self) -> None:
        """Block until the stream ends: the container stopped, the connection dropped, or `close()`."""
        with self._cond:
            while not self.ended:
                self._cond.wait()

    def mark(self) -> int:
        """A position in the event list; `wait_for(after=mark)` sees only later events."""
        with self._cond:
            return len(self._events)

    def wait_for(self, kinds, after: int = 0, timeout: float = 60.0,
                 match: Optional[Callable[[dict], bool]] = None) -> Optional[Event]:
        """The first event of one of `kinds` at or after position `after`, or None at the deadline
        or when the stream ended."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for kind, fields, at in self._events[after:]:
                    if kind in kinds and (match is None or match(fields)):
                        return kind, fields, at
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.ended:
                    return None
                self._cond.wait(remaining)


# The engine stamps a container's StartedAt just after its process started, so that process's
# first lines may be logged a moment before it; the run before (a restart, an engine that came
# back) printed its last ready at least a stop and a start earlier. Taken 1 s early, as before,
# and truncated to whole seconds by docker-py (a datetime), a window caught that old ready: a
# start then seemed ready before the new supervisor could take a signal.
RUN_SINCE_EARLY_S = 0.05


def run_since(started_at: Optional[str]) -> Optional[float]:
    """Where `logs(since=...)` of a container's current run starts: its StartedAt (docker's
    stamp, as its attrs last read it), RUN_SINCE_EARLY_S early; None when it cannot be read."""
    stamp = docker_time.epoch(started_at)
    return None if stamp is None or stamp <= RUN_SINCE_EARLY_S else stamp - RUN_SINCE_EARLY_S


def follow_run(container, report: Callable[..., None]) -> LogStream:
    """`container`'s output since its current run started (its attrs read after that start)."""
    return follow(container, report, since=run_since(container.attrs["State"].get("StartedAt")))


def follow(container, report: Callable[..., None], since=None, tail="all") -> LogStream:
    """A started LogStream of `container`'s output, reporting "line" and "supervisor" events."""
    kwargs = dict(stream=True, follow=True, tail=tail)
    if since is not None:
        kwargs["since"] = since
    return reporting_stream(container.logs(**kwargs), report)


def reporting_stream(chunks, report: Callable[..., None]) -> LogStream:
    """A started LogStream that reports each app line as LINE and each supervisor event as SUPERVISOR."""
    return LogStream(chunks, on_line=lambda line: report(events.LINE, line=line),
                     on_event=lambda kind, fields: report(events.SUPERVISOR, kind=kind, **fields)).start()


def wait_ready(container, stream: LogStream, after: int, timeout: float) -> Event:
    """The first ready/crashed event after `after`; an EngineError when the container exits
    first or nothing comes within `timeout`."""
    event = stream.wait_for(READY_EVENTS, after=after, timeout=timeout)
    if event is not None:
        return event
    container.reload()
    if container.status != "running":
        tail = container.logs(tail=5).decode("utf-8", "replace").strip().splitlines()
        last = tail[-1] if tail else f"exit status {container.attrs['State'].get('ExitCode')}"
        raise EngineError(f"the container exited at start: {last}", "see `devbox logs`; does the image have python3?")
    raise EngineError(f"the supervisor did not report ready within {timeout:g} s", "see `devbox logs`")
