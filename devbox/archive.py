"""Tar archives of project files for copy mode, checked path by path before anything is packed.

The rules (see devbox.sync for when copy mode is used):
- every path is project-relative and clean: no absolute paths, no `..`, `.` or empty parts;
- a path whose parent directory on the host is a symlink is never followed (it could lead out of
  the project); symlinks themselves are copied as links, so no outside content comes in;
- only regular files, directories and symlinks are sent; modes are kept, ownership is the
  container's user.

Archives are extracted at `/` with the workdir as a prefix of every name: Docker rejects a
relative symlink that points above the extraction directory, and a project may legitimately
hold one (`../shared/settings.py`).
"""

from __future__ import annotations

import io
import os
import posixpath
import stat
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, List, Optional, Tuple

from devbox.errors import SyncError

# Archives larger than this are spooled to a temporary file rather than held in memory.
SPOOL_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class Owner:
    """Who owns the copied files in the container."""

    uid: int = 0
    gid: int = 0


@dataclass
class Stats:
    files: int = 0
    bytes: int = 0
    deleted: int = 0
    seconds: float = 0.0


# -- paths ------------------------------------------------------------------------------------

def clean_relpath(rel: str) -> str:
    """`rel` if it is a safe project-relative posix path, else SyncError.

    Safe means: not empty, not absolute, no NUL, and no empty, `.` or `..` part. Nothing is
    normalised away: a path the watcher would never produce is refused, not repaired.
    """
    if not isinstance(rel, str) or not rel:
        raise SyncError(f"refusing to copy an empty path ({rel!r})")
    if "\0" in rel:
        raise SyncError(f"refusing to copy a path with a NUL byte: {rel!r}")
    if rel.startswith("/") or (len(rel) > 1 and rel[1] == ":" and rel[0].isalpha()):
        raise SyncError(f"refusing to copy an absolute path: {rel!r}")
    parts = rel.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise SyncError(f"refusing to copy {rel!r}: paths must stay inside the project")
    return rel


def clean_workdir(workdir: str) -> str:
    """The workdir as an archive prefix (`app` for `/app`); SyncError unless absolute and clean."""
    if not workdir.startswith("/") or workdir.startswith("//") or posixpath.normpath(workdir) != workdir \
            or workdir == "/":
        raise SyncError(f"the workdir must be an absolute, normalised path other than /, got {workdir!r}")
    return clean_relpath(workdir.lstrip("/"))


def inside(root: Path, rel: str) -> bool:
    """Whether every parent directory of `rel` under `root` is a real directory, not a symlink:
    only then does opening `root/rel` stay inside the project."""
    current = root
    for part in rel.split("/")[:-1]:
        current = current / part
        try:
            if not stat.S_ISDIR(os.lstat(current).st_mode):
                return False
        except OSError:
            return False
    return True


# -- archives ---------------------------------------------------------------------------------

class ArchiveBuilder:
    """Builds one tar stream for the container: entries named `<workdir>/<rel>`, owned by
    `owner`, parent directories added once each, before their contents."""

    def __init__(self, root: Path, workdir: str, owner: Owner):
        self.root = Path(root)
        self.prefix = clean_workdir(workdir)
        self.owner = owner
        self.stats = Stats()
        self._dirs: set = set()
        self._file = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
        self._tar = tarfile.open(fileobj=self._file, mode="w", format=tarfile.PAX_FORMAT)

    def _info(self, rel: str, st: os.stat_result) -> tarfile.TarInfo:
        info = tarfile.TarInfo(f"{self.prefix}/{rel}" if rel else self.prefix)
        info.mode = stat.S_IMODE(st.st_mode)
        info.mtime = st.st_mtime  # sub-second, in a PAX header: same-second edits stay distinguishable
        info.uid, info.gid = self.owner.uid, self.owner.gid
        info.uname = info.gname = ""  # numeric ownership: names mean nothing in the container
        return info

    def add_workdir(self) -> None:
        """The workdir itself, so it exists and belongs to the container's user."""
        st = os.stat(self.root)
        self._add_dir("", st)

    def _add_dir(self, rel: str, st: Optional[os.stat_result] = None) -> None:
        if rel in self._dirs:
            return
        if st is None:
            st = os.lstat(self.root / rel)
        info = self._info(rel, st)
        info.type = tarfile.DIRTYPE
        self._tar.addfile(info)
        self._dirs.add(rel)

    def _add_parents(self, rel: str) -> None:
        parts = rel.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            self._add_dir("/".join(parts[:depth]))

    def add(self, rel: str) -> bool:
        """Add the host file `rel` (a regular file, symlink or directory entry); False when it is
        gone, unsafe to follow, or of another kind (socket, fifo, device)."""
        clean_relpath(rel)
        if not inside(self.root, rel):
            return False
        path = self.root / rel
        try:
            st = os.lstat(path)
        except OSError:
            return False
        if stat.S_ISDIR(st.st_mode):
            self._add_parents(rel)
            self._add_dir(rel, st)
            return True
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
            return False
        info = self._info(rel, st)
        if stat.S_ISLNK(st.st_mode):
            try:
                info.linkname = os.readlink(path)
            except OSError:
                return False
            info.type = tarfile.SYMTYPE
            self._add_parents(rel)
            self._tar.addfile(info)
        else:
            try:
                handle = open(path, "rb")
            except OSError:
                return False
            with handle:
                # The size is the one read now: a file growing meanwhile is cut at that size and
                # the watcher's next batch sends the rest.
                info.size = os.fstat(handle.fileno()).st_size
                self._add_parents(rel)
                self._tar.addfile(info, _Exact(handle, info.size))
            self.stats.bytes += info.size
        self.stats.files += 1
        return True

    def finish(self):
        """The archive as a readable file object, positioned at its start."""
        self._tar.close()
        self._file.seek(0)
        return self._file


class _Exact(io.RawIOBase):
    """Exactly `size` bytes of `handle`, zero-padded if it shrank while being read."""

    def __init__(self, handle, size: int):
        self.handle, self.left = handle, size

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        n = self.left if n is None or n < 0 else min(n, self.left)
        data = self.handle.read(n)
        data += b"\0" * (n - len(data))
        self.left -= n
        return data


def build_archive(root: Path, relpaths: Iterable[str], workdir: str, owner: Owner = Owner(),
                  with_workdir: bool = False) -> Tuple[object, Stats, List[str]]:
    """(archive file, stats, paths that could not be added) for `relpaths` under `root`."""
    builder = ArchiveBuilder(root, workdir, owner)
    if with_workdir:
        builder.add_workdir()
    skipped = [rel for rel in relpaths if not builder.add(rel)]
    return builder.finish(), builder.stats, skipped
