"""Copy sync proves the tree: the container's workdir compared with the host's project, by content.

A reused container holds the tree of its last session, and files may have changed or gone on the
host since (edits made while devbox was not running, a container restarted underneath). So
every start of a copy-sync container that kept its files lists its workdir with a small stdlib
script run by exec (path -> sha1, symlinks as their target's name, never followed) and compares
that with the host's files under the watcher's rules: what differs is sent, what the host no
longer has is deleted, and nothing the host ignores is touched (the app's own __pycache__ or
database in the container stay).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List

# Directories never listed in the container (the ones the watcher's defaults ignore wholesale):
# a node_modules there would cost seconds to hash and could never be a difference.
PRUNED = (".git", ".hg", ".svn", "__pycache__", ".venv", "venv", "node_modules", ".mypy_cache",
          ".pytest_cache", ".ruff_cache", ".tox", ".nox")

# Prints "rel\0digest\0" for each file under argv[1] (bytes: a name need not be UTF-8). Run with
# the container's python3, -I -S: a few milliseconds to start.
SCRIPT = """\
import hashlib, os, sys
root, pruned, out = os.fsencode(sys.argv[1]), {os.fsencode(p) for p in sys.argv[2:]}, sys.stdout.buffer
for top, dirs, files in os.walk(root):
    links = [d for d in dirs if os.path.islink(os.path.join(top, d))]  # listed, never followed
    dirs[:] = [d for d in dirs if d not in pruned and d not in links]
    for name in files + links:
        path = os.path.join(top, name)
        try:
            if os.path.islink(path):
                digest = b"symlink:" + os.readlink(path)
            else:
                h = hashlib.sha1()
                with open(path, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                digest = h.hexdigest().encode()
        except OSError:
            continue
        out.write(os.path.relpath(path, root) + b"\\0" + digest + b"\\0")
"""


@dataclass
class Difference:
    changed: List[str] = field(default_factory=list)  # on the host and not the same in the container
    deleted: List[str] = field(default_factory=list)  # in the container only
    files: int = 0  # on the host
    seconds: float = 0.0


def parse(output: bytes) -> Dict[str, str]:
    """The script's output as {rel: digest} (names with surrogate escapes, as os.fsdecode gives)."""
    import os

    parts = output.split(b"\0")
    return {os.fsdecode(parts[i]): parts[i + 1].decode("ascii", "replace") for i in range(0, len(parts) - 1, 2)}


def host_manifest(root: Path, relpaths: Iterable[str]) -> Dict[str, str]:
    """{rel: digest} of the host's files, with the watcher's digest (whole files, however big)."""
    from devbox.content import file_digest

    return {rel: file_digest(root / rel, whole=True) or "unreadable" for rel in relpaths}


def compare(host: Dict[str, str], container: Dict[str, str], is_ignored) -> Difference:
    """What to send and what to delete so that the container holds the host's tree."""
    changed = sorted(rel for rel, digest in host.items() if container.get(rel) != digest)
    deleted = sorted(rel for rel in container if rel not in host and not is_ignored(rel))
    return Difference(changed=changed, deleted=deleted, files=len(host))


def container_manifest(container, workdir: str) -> Dict[str, str]:
    """{rel: digest} of the running container's workdir; SyncError when it cannot be listed."""
    from devbox.errors import SyncError

    result = container.exec_run(["python3", "-I", "-S", "-c", SCRIPT, workdir, *PRUNED], stderr=False)
    if result.exit_code != 0:
        raise SyncError(f"listing {workdir} in the container failed (exit status {result.exit_code})",
                        "does the image have python3?")
    return parse(result.output or b"")


def prove(container, config, send) -> Difference:
    """Compare the running container's tree with the host's and `send(changed, deleted)` the
    difference; the Difference."""
    from devbox import sync

    started = time.monotonic()
    rules = sync.path_filter(config)
    host = host_manifest(Path(config.root), rules.walk(config.root))
    diff = compare(host, container_manifest(container, config.workdir), rules.is_ignored)
    if diff.changed or diff.deleted:
        send(diff.changed, diff.deleted)
    diff.seconds = time.monotonic() - started
    return diff
