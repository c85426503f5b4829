"""Turning a notifier's events into one batch, the watcher's half that looks at the disk: which
events name a watched path (relative to the project, devbox's own outputs and muted loops left
out), and what changed by content (devbox.content), not by what the events said.

A mixin of devbox.watch.Watcher: it reads the watcher's root, paths, filter, content index,
feedback guards and callbacks.
"""

from __future__ import annotations

import os
import stat
import time
from typing import Iterable, Iterator, Optional, Tuple

from devbox import filters
from devbox.batch import Batch
from devbox.content import through_symlink
from devbox.notify import Change
from devbox.paths import covers

RawChange = Tuple[int, str]


class BatchBuilding:
    """The watcher's events -> batch half (see the module docstring)."""

    @property
    def config_rel(self) -> Optional[str]:
        return self._relative(str(self.config_file)) if self.config_file is not None else None

    def prime(self) -> int:
        """Hash the watched files once; their number."""
        return sum(self.contents.prime(self._walk(path)) for path in self.paths if os.path.lexists(path))

    def _walk(self, top) -> Iterator[str]:
        """The filter's walk without the files devbox writes itself; a directory it could not
        read is said once."""
        for rel in self.filter.walk(top):
            if not self._own(os.path.join(self.root, rel)):
                yield rel
        for rel in sorted(set(getattr(self.filter, "unreadable", ())) - self._told_unreadable):
            self._told_unreadable.add(rel)
            self.on_unreadable(rel)

    def _own(self, raw: str, info: Optional[os.stat_result] = None) -> bool:
        """Whether devbox must not react to a change of `raw`: its own output, or a muted loop."""
        if self.loops.muted and self._relative(raw) in self.loops.muted:
            return True
        if not self.own_outputs:
            return False
        try:
            info = info or os.lstat(raw)
        except OSError:
            return False
        return (info.st_dev, info.st_ino) in self.own_outputs

    def _relative(self, raw: str) -> Optional[str]:
        for prefix in self._prefixes:
            if raw.startswith(prefix) and (len(raw) == len(prefix) or raw[len(prefix)] == os.sep):
                rel = raw[len(prefix) + 1:]
                return rel.replace(os.sep, "/") if os.sep != "/" else rel
        return None

    def _is_config(self, raw: str) -> bool:
        return self.on_config is not None and self.config_file is not None and self._relative(raw) == self.config_rel

    def to_batch(self, changes: Iterable[RawChange]) -> Optional[Batch]:
        """One batch from watchfiles' (change, absolute path) pairs, or None when nothing
        changed: paths outside the watched ones, directories, files whose bytes are the same.
        What counts is what is on disk now, not what the events said. A new directory is
        walked, since files written into it before its watch began raised no events."""
        arrival = time.time()
        changed, deleted, unchanged, mtimes = set(), set(), set(), []
        config_rel = self.config_rel if self.on_config is not None else None
        pending = [(int(change), raw) for change, raw in changes]
        seen = set()
        while pending:
            change, raw = pending.pop()
            rel = self._relative(raw)
            if not rel or rel in seen or not (covers(self.rel_paths, rel) or rel == config_rel):
                continue
            seen.add(rel)
            if through_symlink(self.root, rel):  # events notify saw by following a link: not the project's
                continue
            try:
                info = os.lstat(raw)
            except OSError:
                if self.contents.forget(rel):
                    deleted.add(rel)
                continue
            if self._own(raw, info):
                continue
            if stat.S_ISDIR(info.st_mode):
                if change == Change.added:  # its files may have been written before it was watched
                    pending += [(Change.added, os.path.join(self.root, f)) for f in self._walk(raw)
                                if f not in self.contents]
                continue
            mtimes.append(info.st_mtime)
            if self.contents.really_changed(rel):
                changed.add(rel)
            else:
                unchanged.add(rel)
        deleted -= changed  # deleted then written again (git checkout, rename-save): a change
        paths = sorted(changed | deleted)
        action = self.filter.classify_batch([p for p in paths if p != config_rel])
        if config_rel in changed:
            action = filters.strongest([action, filters.RELOAD])
        if action == filters.IGNORE:
            if unchanged:
                self.on_unchanged(sorted(unchanged))
            return None
        # An mtime can be old (a file moved in, `cp -p`): no change of this batch predates the last one.
        t0 = min(max(min(mtimes), self._since), arrival) if mtimes else arrival
        return Batch(action=action, changed=sorted(changed), deleted=sorted(deleted), t0=t0, at=time.time())
