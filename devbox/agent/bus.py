"""The event bus: `bus(EVENT, service=None, **fields)` is the `report` every part of devbox is
given, and every reader gets the same record, in the same order: the console (a terminal, or a
detached agent's log file), `devbox events` and `devbox logs -f` over the control socket, and
the agent's own bookkeeping (progress.py). So what they say cannot disagree.

A record is one JSON object: {"seq": N, "t": epoch seconds, "event": NAME, "service": LABEL
(compose only), ...the event's fields}. Fields are made JSON here, once: readers get plain
values (an object with `event_view()` is shown as what that returns, anything else as text).
"""

from __future__ import annotations

import collections
import enum
import queue
import threading
import time
from pathlib import PurePath
from typing import Callable, Deque, Dict, List, Optional

Record = Dict[str, object]
RESERVED = ("seq", "t", "event", "service")
KEEP = 2000  # records kept for a reader that asks for the past (`devbox events --since`)
QUEUE_LIMIT = 10000  # records waiting for one socket reader before it is dropped as stuck


def jsonable(value):
    """`value` as plain JSON types."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, enum.Enum):
        return jsonable(value.value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, PurePath):
        return str(value)
    view = getattr(value, "event_view", None)
    if callable(view):
        return jsonable(view())
    return str(value)


def fields_of(record: Record) -> dict:
    """A record's event fields, without the bus's own keys."""
    return {k: v for k, v in record.items() if k not in RESERVED}


class Subscription:
    """A reader's queue of records; `get` returns None once the bus closed it."""

    def __init__(self):
        self._queue: "queue.Queue[Optional[Record]]" = queue.Queue(QUEUE_LIMIT)
        self.dropped = False

    def put(self, record: Optional[Record]) -> None:
        try:
            self._queue.put_nowait(record)
        except queue.Full:  # a reader that stopped reading must not hold the agent up
            self.dropped = True

    def get(self, timeout: Optional[float] = None) -> Optional[Record]:
        """The next record; None when closed or dropped; raises queue.Empty after `timeout`."""
        if self.dropped:
            return None
        return self._queue.get(timeout=timeout)


class EventBus:
    def __init__(self, keep: int = KEEP):
        self._lock = threading.RLock()  # a reader may report in turn
        self.seq = 0
        self._kept: Deque[Record] = collections.deque(maxlen=keep)
        self._readers: List[Callable[[Record], None]] = []
        self._subscriptions: List[Subscription] = []

    def __call__(self, event: str, service: Optional[str] = None, **fields) -> Record:
        record: Record = {"seq": 0, "t": round(time.time(), 6), "event": event}
        if service:
            record["service"] = service
        record.update({k: jsonable(v) for k, v in fields.items() if k not in RESERVED})
        # Readers run under the lock: records reach every reader in seq order, even when two
        # threads report at once (a compose project's services reload concurrently).
        with self._lock:
            self.seq += 1
            record["seq"] = self.seq
            self._kept.append(record)
            for reader in self._readers:
                reader(record)
            for subscription in self._subscriptions:
                subscription.put(record)
        return record

    def add_reader(self, reader: Callable[[Record], None]) -> None:
        """`reader(record)` is called for every record from now on, in the reporting thread."""
        with self._lock:
            self._readers.append(reader)

    def subscribe(self, since: Optional[int] = None) -> Subscription:
        """A queue of the records after `since` (those still kept), then every new one; None
        for only new ones."""
        subscription = Subscription()
        with self._lock:
            if since is not None:
                for record in self._kept:
                    if record["seq"] > since:
                        subscription.put(record)
            self._subscriptions.append(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)

    def close(self) -> None:
        """End every subscription (their readers get None)."""
        with self._lock:
            for subscription in self._subscriptions:
                subscription.put(None)
            self._subscriptions = []
