"""Deadline-bounded waiting: the only way tests wait."""

import time


class WaitTimeout(AssertionError):
    pass


def wait_until(predicate, timeout=10.0, interval=0.01, message=""):
    """Call predicate until it returns a truthy value; return that value.

    Exceptions from the predicate count as "not yet". Raise WaitTimeout after `timeout` seconds,
    with the last exception or value in the message so a failure says what was seen.
    """
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last = value
        except Exception as exc:  # noqa: BLE001 - a failing probe is "not yet"
            last = exc
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"{message or 'condition'} not met within {timeout}s (last: {last!r})")
        time.sleep(interval)
