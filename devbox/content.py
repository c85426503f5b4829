"""What the watched files hold: a digest per file, so a change that changes nothing (a touch, a
save without edits, an atomic rename of the same bytes) is not acted on; symlinks are names,
never followed."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path
from typing import Dict, Iterable, List, Optional

MAX_HASHED_BYTES = 8 * 1024 * 1024
EMPTY_DIGEST = hashlib.sha1(b"").hexdigest()


def file_digest(path: Path, whole: bool = False) -> Optional[str]:
    """sha1 of a file's bytes; None for a missing or unreadable file or one too big to hash
    (over MAX_HASHED_BYTES, unless `whole`). A
    symlink is its target's name, never followed (it may lead out of the project, or in a loop)."""
    try:  # bare fd calls: a third of the cost of stat() + read_bytes() when priming 20,000 files
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW on a symlink
            try:
                return "symlink:" + os.readlink(path)
            except OSError:
                return None
        return None
    try:
        size = os.fstat(fd).st_size
        if size > MAX_HASHED_BYTES and not whole:
            return None
        digest = hashlib.sha1()
        while True:
            chunk = os.read(fd, max(size + 1, 65536))
            if not chunk:
                return digest.hexdigest()
            digest.update(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)


def through_symlink(root: Path, rel: str) -> bool:
    """Whether a parent directory of `rel` is a symlink (a missing one is not): the Rust notifier
    follows links into their targets, which may be outside the project or a loop back into it."""
    current = str(root)
    for part in rel.split("/")[:-1]:
        current = os.path.join(current, part)
        try:
            if stat.S_ISLNK(os.lstat(current).st_mode):
                return True
        except OSError:
            return False
    return False


class ContentIndex:
    """What each watched file held when it was last acted on, to drop changes that change nothing."""

    def __init__(self, root: Path):
        self.root = root
        self._digests: Dict[str, Optional[str]] = {}

    def __contains__(self, rel: str) -> bool:
        return rel in self._digests

    def known(self) -> List[str]:
        return list(self._digests)

    def prime(self, relpaths: Iterable[str]) -> int:
        count = 0
        for rel in relpaths:
            self._digests[rel] = file_digest(self.root / rel)
            count += 1
        return count

    def really_changed(self, rel: str) -> bool:
        """True when `rel`'s bytes differ from the last recorded ones (and records the new ones).
        A file never seen, or too big to hash, counts as changed."""
        new = file_digest(self.root / rel)
        old = self._digests.get(rel, "unknown")
        self._digests[rel] = new
        return new is None or new != old

    def emptied(self, rel: str) -> bool:
        """True when `rel` is an empty file now and held bytes when last acted on: a save that
        truncates its file before writing it, caught in between (or a file really emptied)."""
        if self._digests.get(rel) in (None, EMPTY_DIGEST):
            return False
        try:
            info = os.lstat(self.root / rel)
        except OSError:
            return False
        return stat.S_ISREG(info.st_mode) and info.st_size == 0

    def forget(self, rel: str) -> bool:
        """Drop `rel` (a file, or a directory's files); False when nothing under it was known,
        e.g. an editor's temporary file created and renamed away within one batch."""
        if rel in self._digests:
            del self._digests[rel]
            return True
        prefix = rel + "/" if rel else ""
        known = [key for key in self._digests if key.startswith(prefix)]
        for key in known:
            del self._digests[key]
        return bool(known)
