"""Project-relative watch paths: which of them a file falls under."""

from __future__ import annotations

from typing import Iterable

# devbox's own files in a project (compose's override, the supervisor's files, probe files); the
# watcher never reacts to them and copy sync never sends them.
STATE_DIR = ".devbox"


def covers(paths: Iterable[str], rel: str) -> bool:
    """Whether project-relative `rel` is one of `paths` or below one ("." or "" is the root and
    covers everything; a trailing slash is allowed)."""
    for p in paths:
        p = p.rstrip("/")
        if p in (".", "") or rel == p or rel.startswith(p + "/"):
            return True
    return False
