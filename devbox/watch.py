"""The host watcher: watchfiles events -> one classified action per batch -> the target.

Events always arrive on the host (inotify/FSEvents), even when the engine runs elsewhere. A
batch becomes one action, the strongest in it (rebuild > reload > sync > ignore). While an action
runs, watchfiles keeps collecting, so the changes made meanwhile collapse into one trailing batch.
A file whose bytes equal what was last served (a touch, a save without edits, an atomic rename
of the same content) is not a change.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from devbox import filters

MAX_HASHED_BYTES = 8 * 1024 * 1024


@dataclass
class Batch:
    action: str
    changed: List[str]  # project-relative paths, sorted, changed or created
    deleted: List[str] = field(default_factory=list)
    t0: float = 0.0  # epoch seconds of the earliest write in the batch (file mtime), else arrival

    @property
    def paths(self) -> List[str]:
        return sorted(self.changed + self.deleted)


def file_digest(path: Path) -> Optional[str]:
    """sha1 of a file's bytes; None for a missing or unreadable file or one too big to hash."""
    try:
        if path.stat().st_size > MAX_HASHED_BYTES:
            return None
        return hashlib.sha1(path.read_bytes()).hexdigest()
    except OSError:
        return None


class ContentIndex:
    """What each watched file held when it was last served, to drop changes that change nothing."""

    def __init__(self, root: Path):
        self.root = root
        self._digests: Dict[str, Optional[str]] = {}

    def prime(self, relpaths) -> int:
        count = 0
        for rel in relpaths:
            self._digests[rel] = file_digest(self.root / rel)
            count += 1
        return count

    def really_changed(self, rel: str) -> bool:
        """True when `rel`'s bytes differ from the last recorded ones (and records the new ones)."""
        new = file_digest(self.root / rel)
        old = self._digests.get(rel, "unknown")
        self._digests[rel] = new
        return new is None or new != old

    def forget(self, rel: str) -> bool:
        """Drop `rel` (a file, or a directory's files); False when nothing under it was known,
        e.g. an editor's temporary file created and renamed away within one batch."""
        prefix = rel + "/"
        known = [key for key in self._digests if key == rel or key.startswith(prefix)]
        for key in known:
            del self._digests[key]
        return bool(known)


class Watcher:
    """Runs watchfiles over `paths` and calls `on_batch(batch)` for each batch worth acting on.

    `on_unchanged(paths)` hears of batches dropped by the content check.
    """

    def __init__(self, root: Path, paths, path_filter: "filters.PathFilter", debounce_ms: int,
                 on_batch: Callable[[Batch], None], on_unchanged: Callable[[List[str]], None] = lambda p: None,
                 stop_event: Optional[threading.Event] = None):
        self.root = Path(root).resolve()
        self.paths = [self.root / p for p in paths]
        self.filter = path_filter
        self.debounce_ms = debounce_ms
        self.on_batch = on_batch
        self.on_unchanged = on_unchanged
        self.stop_event = stop_event or threading.Event()
        self.contents = ContentIndex(self.root)

    def prime(self) -> int:
        """Hash the watched files once; their number."""
        return sum(self.contents.prime(self.filter.walk(path)) for path in self.paths)

    def run(self) -> None:
        import watchfiles

        step = max(1, min(10, self.debounce_ms))
        while not self.stop_event.is_set():
            existing = [p for p in self.paths if p.exists()] or [self.root]
            try:
                for changes in watchfiles.watch(*existing, watch_filter=self.filter, debounce=max(self.debounce_ms, step),
                                                step=step, stop_event=self.stop_event, rust_timeout=1000,
                                                yield_on_timeout=False, raise_interrupt=True):
                    batch = self.to_batch(changes)
                    if batch is not None:
                        self.on_batch(batch)
                    if any(p not in existing and p.exists() for p in self.paths) or not all(p.exists() for p in existing):
                        break  # a watched path appeared or vanished: watch the new set
            except FileNotFoundError:
                continue

    def to_batch(self, changes) -> Optional[Batch]:
        arrival = time.time()
        changed, deleted, unchanged, mtimes = set(), set(), set(), []
        for _change, raw in changes:
            path = Path(raw)
            try:
                rel = path.resolve().relative_to(self.root).as_posix() if path.exists() else os.path.relpath(raw, self.root)
            except ValueError:
                continue
            if rel.startswith(".."):
                continue
            if not path.exists():  # whatever the event said, what counts is what is there now
                if self.contents.forget(rel):
                    deleted.add(rel)
                continue
            if path.is_dir():
                continue
            try:
                mtimes.append(path.stat().st_mtime)
            except OSError:
                pass
            if self.contents.really_changed(rel):
                changed.add(rel)
            else:
                unchanged.add(rel)
        deleted -= changed  # deleted then written again (git checkout, rename-save): a change
        action = self.filter.classify_batch(sorted(changed | deleted))
        if action == filters.IGNORE:
            if unchanged:
                self.on_unchanged(sorted(unchanged))
            return None
        t0 = min(min(mtimes), arrival) if mtimes else arrival
        return Batch(action=action, changed=sorted(changed), deleted=sorted(deleted), t0=t0)
