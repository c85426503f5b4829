"""Project-relative watch paths: which of them a file falls under."""

from __future__ import annotations

from typing import Iterable


def covers(paths: Iterable[str], rel: str) -> bool:
    """Whether project-relative `rel` is one of `paths` or below one ("." or "" is the root and
    covers everything; a trailing slash is allowed)."""
    for p in paths:
        p = p.rstrip("/")
        if p in (".", "") or rel == p or rel.startswith(p + "/"):
            return True
    return False
