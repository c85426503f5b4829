"""The project name rule, in one place: what `name:` accepts, and how a directory name (for the
default, and for `devbox init`) is made into one.

The name ends up in image tags (``devbox-NAME:dev``) and container names, so it must be a docker
repository path component: lowercase letters and digits, separated by ".", "_", "__" or dashes.
"""

from __future__ import annotations

import re

RULE = "lowercase letters, digits, and . _ - between them"
_NAME_RE = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_SEPARATOR_RE = re.compile(r"[._]|__|-+")
_COMPOSE_PROJECT_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
_SERVICE_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")


def is_valid(name: str) -> bool:
    return bool(_NAME_RE.fullmatch(name))


def sanitize_name(raw: str) -> str:
    """A valid devbox name made from `raw` (e.g. a directory name), or "" if none can be."""
    name = re.sub(r"[^a-z0-9._-]+", "-", raw.lower())
    # Docker separates name components with ".", "_", "__" or dashes; any other run ("a.-b",
    # "a___b") becomes one dash.
    name = re.sub(r"[._-]+", lambda m: m.group() if _SEPARATOR_RE.fullmatch(m.group()) else "-", name)
    return name.strip("._-")


def is_compose_project(name: str) -> bool:
    return bool(_COMPOSE_PROJECT_RE.fullmatch(name))


def compose_project(name: str) -> str:
    """The compose project name a devbox name gives (compose allows no dots)."""
    return name.replace(".", "-")


def is_service(name: str) -> bool:
    """A compose service name as compose accepts it."""
    return bool(_SERVICE_RE.fullmatch(name))
