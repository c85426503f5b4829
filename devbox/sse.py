"""Server-Sent Events (the `text/event-stream` format browsers' EventSource reads), for the
dashboard's bus records and live reload's messages alike.

Each record is one event whose `id` is its seq, so a browser that reconnects sends
`Last-Event-ID` and gets the records after it (those the bus still keeps, as `devbox events
--since` does), and whose data is the record as one line of JSON, the same bytes
`devbox events` prints.
"""

from __future__ import annotations

import json
from typing import Mapping, Optional

RETRY_MS = 1000  # how soon a browser reconnects after the stream broke
KEEPALIVE_S = 15.0  # a comment line this often: a gone browser is noticed, proxies keep it open


def record(rec: Mapping) -> bytes:
    """One record (a mapping with a `seq`) as an event: `id: SEQ`, `data: JSON` (never more than
    one line), blank line."""
    return event(rec["seq"], json.dumps(rec, separators=(",", ":"), ensure_ascii=False))


def event(seq: int, data: str) -> bytes:
    """An event with an id (what a reconnecting browser sends back) and one line of data."""
    return f"id: {seq}\ndata: {data}\n\n".encode("utf-8")


def named(event: str, data: Mapping) -> bytes:
    """An event of another kind than a record (`hello`: which agent this stream is from)."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode("utf-8")


def preamble(retry_ms: int = RETRY_MS) -> bytes:
    return f"retry: {retry_ms}\n\n".encode()


def keepalive() -> bytes:
    return b": keepalive\n\n"


def since(query: Optional[str], last_event_id: Optional[str], newest: int) -> int:
    """Where a stream starts: after `Last-Event-ID` (a reconnect), else after `?since=`, else
    from the oldest record kept (0). An id beyond the newest seq is another agent's: from 0."""
    for value in (last_event_id, query):
        if value is not None and str(value).strip().lstrip("-").isdigit():
            seq = int(value)
            return 0 if seq > newest or seq < 0 else seq
    return 0
