"""Project-relative watch paths (which of them a file falls under), devbox's own state
directory in a project, and its cache directory for the user."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping, Optional

# devbox's own files in a project (compose's override, the supervisor's files, probe files); the
# watcher never reacts to them and copy sync never sends them.
STATE_DIR = ".devbox"


def user_cache_dir(environ: Optional[Mapping[str, str]] = None) -> Path:
    """$XDG_CACHE_HOME/devbox, else ~/.cache/devbox."""
    environ = os.environ if environ is None else environ
    return Path(environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")) / "devbox"


def covers(paths: Iterable[str], rel: str) -> bool:
    """Whether project-relative `rel` is one of `paths` or below one ("." or "" is the root and
    covers everything; a trailing slash is allowed)."""
    for p in paths:
        p = p.rstrip("/")
        if p in (".", "") or rel == p or rel.startswith(p + "/"):
            return True
    return False


def write_state_file(path: Path, data, mode: int = 0o644) -> None:
    """Write `data` (str or bytes) unless the file already holds it; the state dir is made and
    ignored by git on first use."""
    blob = data.encode() if isinstance(data, str) else data
    state = path.parent
    while state.name != STATE_DIR and state != state.parent:
        state = state.parent
    if state.name == STATE_DIR and not (state / ".gitignore").exists():
        state.mkdir(parents=True, exist_ok=True)
        (state / ".gitignore").write_text("# devbox's generated files; never committed\n*\n")
    try:
        if path.read_bytes() == blob:
            return
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(blob)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
