"""What devbox printed, as the tests read it."""

import re

_APP_LINE = re.compile(r"^\[(?!devbox\])[^\]\s]+\]")  # "[web]    ...": a line of the app's own output


def own_traceback(output: str) -> bool:
    """Whether devbox itself printed a traceback. The app's tracebacks (its import failing on a
    file caught half-written, shown with the error page) are the app's lines, prefixed with its
    name, and do not count."""
    return any("Traceback" in line and not _APP_LINE.match(line) for line in output.splitlines())
