"""LogStream: the supervisor's events read from a container's output."""

import datetime as dt

import pytest

from devbox.logs import LogStream
from devbox.supervisor import protocol
from tests.waiting import wait_until


def event_line(kind, **fields):
    return ("[devbox] %s %s\n" % (kind, " ".join("%s=%s" % kv for kv in fields.items()))).encode()


def test_a_supervisor_started_again_counts_its_generations_from_one():
    """A followed output that reaches back before a restart (logs since StartedAt - 1 s) shows the
    old supervisor's generations first: the new one's reloads must not be measured against them."""
    chunks = [event_line(protocol.EVENT_READY, generation=1, pid=9, ms=5),
              event_line(protocol.EVENT_READY, generation=2, pid=13, ms=5),
              b"[devbox] started pid=1 python=3.11 listen=fd address=0.0.0.0:8000: app app:app\n",
              event_line(protocol.EVENT_READY, generation=1, pid=9, ms=40)]
    stream = LogStream(iter(chunks), on_line=lambda line: None, on_event=lambda kind, fields: None).start()
    wait_until(lambda: stream.ended, 5, 0.01, "the stream read")
    assert stream.generation == 1


def test_a_runs_logs_start_at_its_started_at_not_a_second_or_two_before():
    from devbox.logs import RUN_SINCE_EARLY_S, run_since

    since = run_since("2026-12-04T20:30:05.250000000Z")
    started = dt.datetime(2026, 12, 4, 20, 30, 5, 250000, tzinfo=dt.timezone.utc).timestamp()
    assert since == pytest.approx(started - RUN_SINCE_EARLY_S)
    assert RUN_SINCE_EARLY_S < 0.1  # an earlier run's ready, a stop and a start before, is left out
    assert isinstance(since, float)  # docker-py truncates a datetime to whole seconds
    assert run_since(None) is None and run_since("0001-01-01T00:00:00Z") is None
