"""Sleeping until something is written, at no cost: the idle half of the watcher.

watchfiles' Rust notifier cannot block: its `watch()` wakes every `step_ms` to look at its event
set, and a lone save needs a 5 ms step to be acted on at once. Idle, that is 200 wake-ups a
second, about 0.5 % of a core for nothing. So while no change is pending the watcher blocks
here instead, in `select()` on an inotify descriptor of its own over the same directories
(recursive by hand; the ones whose contents can never matter, node_modules and the like, are
left out), and only once this wakes does it step through the notifier's events at 5 ms. The
notifier stays the one source of events; this only says "now".

Linux only (`for_roots` returns None elsewhere, or when inotify refuses: the watcher then
steps as before). Costs one inotify watch per watched directory.
"""

from __future__ import annotations

import ctypes
import errno
import os
import select
import struct
import sys
import time
from typing import Callable, Dict, Iterable, Optional

IN_MODIFY, IN_ATTRIB, IN_MOVED_FROM, IN_MOVED_TO = 0x2, 0x4, 0x40, 0x80
IN_CREATE, IN_DELETE, IN_DELETE_SELF, IN_MOVE_SELF = 0x100, 0x200, 0x400, 0x800
IN_IGNORED, IN_ONLYDIR, IN_DONT_FOLLOW, IN_ISDIR = 0x8000, 0x01000000, 0x02000000, 0x40000000
IN_NONBLOCK, IN_CLOEXEC = os.O_NONBLOCK, getattr(os, "O_CLOEXEC", 0o2000000)
MASK = IN_MODIFY | IN_ATTRIB | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF
_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len (then the name)

_libc = None


def _inotify():
    """libc's functions, as linked into this Python (CDLL(None)): ctypes.util.find_library would
    run `ldconfig -p` to find the same library (a process, ~10-20 ms on every start)."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def for_roots(roots: Iterable[str], prune: Callable[[str], bool]) -> Optional["Waker"]:
    """A Waker over `roots` (directories), or None where it cannot be had."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return Waker(roots, prune)
    except (OSError, AttributeError):  # no inotify (or not in this libc), or its watch limit: the watcher steps
        return None


class Waker:
    """`wait(timeout)` returns True as soon as anything under the roots is written, created,
    moved or deleted; directories created later are added as they appear. `prune(path)` says
    which directories to leave out."""

    def __init__(self, roots: Iterable[str], prune: Callable[[str], bool]):
        self.prune = prune
        self._libc = _inotify()
        self.fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self._dirs: Dict[int, bytes] = {}
        self._pipe = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC) if hasattr(os, "pipe2") else os.pipe()
        try:
            for root in roots:
                self._add_tree(os.fsencode(root), strict=True)
        except OSError:
            self.close()
            raise

    def _add_tree(self, top: bytes, strict: bool = False) -> None:
        stack = [top]
        while stack:
            path = stack.pop()
            wd = self._libc.inotify_add_watch(self.fd, path, MASK | IN_ONLYDIR | IN_DONT_FOLLOW)
            if wd < 0:
                code = ctypes.get_errno()
                if strict and code == errno.ENOSPC:  # a partial waker would sleep through saves
                    raise OSError(code, os.strerror(code))
                continue  # gone already, or not a directory any more
            self._dirs[wd] = path
            try:
                with os.scandir(path) as entries:
                    for entry in entries:
                        if entry.is_dir(follow_symlinks=False) and not self.prune(os.fsdecode(entry.path)):
                            stack.append(entry.path)
            except OSError:
                continue

    def wait(self, timeout_s: float) -> bool:
        """Block until something changed (True), or `timeout_s` passed or `interrupt()` was
        called (False)."""
        ready, _, _ = select.select([self.fd, self._pipe[0]], [], [], timeout_s)
        if self._pipe[0] in ready:
            try:
                os.read(self._pipe[0], 4096)
            except OSError:
                pass
        if self.fd not in ready:
            return False
        self._drain()
        return True

    def settle(self, quiet_s: float, limit_s: float) -> None:
        """After a wake-up: return once nothing more has happened for `quiet_s` (the save is
        written), after `limit_s` at most, or at once on `interrupt()`."""
        deadline = time.monotonic() + limit_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            ready, _, _ = select.select([self.fd, self._pipe[0]], [], [], min(quiet_s, remaining))
            if self.fd not in ready:
                return
            self._drain()

    def interrupt(self) -> None:
        """Make a `wait()` in another thread return now (the watcher is asked to stop)."""
        try:
            os.write(self._pipe[1], b"!")
        except OSError:  # closed, or the pipe is full: it will wake anyway
            pass

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self.fd, 65536)
            except (BlockingIOError, InterruptedError):
                return
            offset = 0
            while offset + _EVENT.size <= len(data):
                wd, mask, _, length = _EVENT.unpack_from(data, offset)
                name = data[offset + _EVENT.size: offset + _EVENT.size + length].rstrip(b"\0")
                offset += _EVENT.size + length
                if mask & IN_IGNORED:
                    self._dirs.pop(wd, None)
                elif mask & IN_ISDIR and mask & (IN_CREATE | IN_MOVED_TO) and wd in self._dirs:
                    path = os.path.join(self._dirs[wd], name)
                    if not self.prune(os.fsdecode(path)):
                        self._add_tree(path)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
            for end in self._pipe:
                os.close(end)
