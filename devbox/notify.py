"""watchfiles' Rust notifier, the one place devbox touches a private part of watchfiles.

Why not the public `watchfiles.watch()`: it is a generator with one fixed debounce and step for
its whole life, and it opens its notifier inside. devbox's watcher needs a different timeout on
every call (a 5 ms step that closes a lone save, a longer quiet time that drains a burst, an idle
wake-up to notice vanished paths) and reopens the notifier itself when a watched root moves.
`RustNotify` is what `watch()` drives underneath; it is called with named arguments so a
reordered signature fails loudly instead of passing a debounce as a step.

Checked against watchfiles 1.3.0 (the `_rust_notify` module and its .pyi have kept these names
since 0.15).
"""

from __future__ import annotations

import os
from typing import Callable, Iterable, List, Literal, Optional, Set, Tuple, Union

from watchfiles import Change

RawChanges = Set[Tuple[int, str]]
Outcome = Union[RawChanges, Literal["signal", "stop", "timeout", "lost"]]

__all__ = ["Change", "Notifier", "LOST"]

# What `watch` returns once the Rust side has failed. It keeps its first error and raises it on
# every later call (a file name that is not UTF-8, "Unable to decode path", is one: the events of
# that batch are dropped with it), so the only way on is a new notifier and a look at the tree.
LOST = "lost"


POLL_MS = 300  # how often a polling notifier walks its paths (watchfiles' own default)
WATCH_LIMIT_SYSCTL = "fs.inotify.max_user_watches"


def watch_limit() -> str:
    """The inotify watch limit, for the message that says it was reached."""
    try:
        with open("/proc/sys/" + WATCH_LIMIT_SYSCTL.replace(".", "/")) as f:
            return f.read().strip()
    except OSError:
        return "?"


class Notifier:
    """Events under `paths` (recursive) from when it is made: inotify/FSEvents, or polling every
    POLL_MS when `poll` says why (a file system that delivers no events), or when the inotify
    watch limit is reached; `polling` is then the reason, else None."""

    def __init__(self, paths: Iterable[str], poll: Optional[str] = None,
                 prune: Callable[[str], bool] = lambda path: False):
        paths = list(paths)
        self.polling = poll
        self.per_directory = False  # True: each directory watched on its own; a new one needs a new notifier
        if poll:
            self._notify = _rust_notify(paths, force_polling=True)
            return
        try:
            # FileNotFoundError when a path does not exist (the caller picks new roots).
            self._notify = _rust_notify(paths)
        except PermissionError:
            # A directory devbox may not read. watchfiles' ignore_permission_denied would leave
            # that directory's siblings unwatched as well (the recursive walk stops there), so
            # each readable directory is watched on its own, the unreadable ones left out.
            self.per_directory = True
            try:
                self._notify = _rust_notify(readable_dirs(paths, prune), recursive=False)
            except OSError as exc:
                self._poll_at_limit(exc, paths)
        except OSError as exc:
            self._poll_at_limit(exc, paths)

    def _poll_at_limit(self, exc: OSError, paths: List[str]) -> None:
        # A full watch table is this error (with ignore_permission_denied, the Rust side would
        # swallow it and the directories past the limit go unwatched, silently).
        if isinstance(exc, FileNotFoundError) or "watch limit" not in str(exc):
            raise exc
        self.polling = f"the inotify watch limit ({WATCH_LIMIT_SYSCTL} = {watch_limit()}) is reached"
        self.per_directory = False
        self._notify = _rust_notify(paths, force_polling=True)

    def watch(self, debounce_ms: int, step_ms: int, timeout_ms: int) -> Outcome:
        """The changes seen, grouped until `step_ms` of quiet (at most `debounce_ms`), or
        "timeout" after `timeout_ms` without any; "signal" on Ctrl-C. "lost": the notifier
        failed and its events are gone; it must be replaced (see `LOST`)."""
        from watchfiles._rust_notify import WatchfilesRustInternalError

        try:
            return self._notify.watch(debounce_ms=debounce_ms, step_ms=step_ms, timeout_ms=timeout_ms,
                                      stop_event=None)
        except WatchfilesRustInternalError:
            return LOST

    def close(self) -> None:
        self._notify.close()


def readable_dirs(roots: Iterable[str], prune: Callable[[str], bool]) -> List[str]:
    """Every directory under `roots` that may be listed, links not followed, pruned ones left out."""
    found, stack = [], list(roots)
    while stack:
        path = stack.pop()
        try:
            with os.scandir(path) as entries:
                children = [e.path for e in entries if e.is_dir(follow_symlinks=False) and not prune(e.path)]
        except OSError:  # unreadable (said by the watcher's walk), or gone
            continue
        found.append(path)
        stack.extend(children)
    return found


def _rust_notify(paths: List[str], force_polling: bool = False, recursive: bool = True):
    from watchfiles._rust_notify import RustNotify

    return RustNotify(watch_paths=paths, debug=False, force_polling=force_polling, poll_delay_ms=POLL_MS,
                      recursive=recursive, ignore_permission_denied=False)
