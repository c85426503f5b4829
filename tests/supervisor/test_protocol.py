"""Event lines: what the supervisor prints is what the host parses."""

import pytest

from devbox.supervisor import protocol


def test_event_round_trip_with_message():
    line = protocol.format_event(protocol.EVENT_CRASHED,
                                 "app/views.py:12: SyntaxError: invalid syntax",
                                 generation=3, status=1)
    assert line == ("[devbox] crashed generation=3 status=1: "
                    "app/views.py:12: SyntaxError: invalid syntax")
    assert protocol.parse_event(line + "\n") == (
        "crashed", {"generation": 3, "status": 1,
                    "message": "app/views.py:12: SyntaxError: invalid syntax"})


def test_values_keep_colons_and_negative_numbers():
    line = protocol.format_event(protocol.EVENT_STARTED, "app hello:app", pid=1,
                                 address="0.0.0.0:8000", python="3.11.7")
    kind, fields = protocol.parse_event(line)
    assert kind == "started"
    assert fields == {"pid": 1, "address": "0.0.0.0:8000", "python": "3.11.7",
                      "message": "app hello:app"}
    assert protocol.parse_event("[devbox] crashed generation=2 status=-9")[1]["status"] == -9


def test_multiline_message_is_folded_to_one_line():
    line = protocol.format_event(protocol.EVENT_CRASHED, "boom\n  more", generation=1,
                                 status="startup")
    assert "\n" not in line
    assert protocol.parse_event(line)[1]["message"] == "boom more"


@pytest.mark.parametrize("line", [
    "GET / 200 1.2 ms",
    "[devbox] supervisor log line that is not an event",
    protocol.log_line("ready to go"),
    "[devbox] ready generation",
    "[app] [devbox] ready generation=1",
])
def test_non_events_parse_to_none(line):
    assert protocol.parse_event(line) is None


def test_field_values_must_be_single_words():
    with pytest.raises(ValueError):
        protocol.format_event(protocol.EVENT_READY, reason="two words")
    with pytest.raises(ValueError):
        protocol.format_event(protocol.EVENT_READY, reason="ends:")


def test_staleness_bound_follows_the_touch_period():
    assert protocol.touch_period(1.0) == protocol.TOUCH_MIN_PERIOD == 2.5
    assert protocol.touch_period(0.2) == 2.5  # a short interval never means more touches
    assert protocol.touch_period(10) == 10.0
    assert protocol.stale_after(1.0) == protocol.STALE_AFTER == 7.5
    for interval in (0.05, 0.2, 1.0, 2.5, 4.0, 30.0):
        assert protocol.stale_after(interval) - protocol.touch_period(interval) == protocol.STALE_MARGIN


def test_bottle_children_never_find_the_lockfile_stale():
    """A `bottle.run(reloader=True)` child takes the lockfile for dead when it is older than its
    own interval + 5 s; even at a tenth of Bottle's default interval that is seconds above the
    touch period of the default --interval."""
    for bottle_interval in (0.1, 1.0):
        bottle_threshold = bottle_interval + 5.0
        assert bottle_threshold - protocol.touch_period(protocol.DEFAULT_INTERVAL) >= 2.5
