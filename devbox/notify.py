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

from typing import Iterable, Literal, Set, Tuple, Union

from watchfiles import Change

RawChanges = Set[Tuple[int, str]]
Outcome = Union[RawChanges, Literal["signal", "stop", "timeout", "lost"]]

__all__ = ["Change", "Notifier", "LOST"]

# What `watch` returns once the Rust side has failed. It keeps its first error and raises it on
# every later call (a file name that is not UTF-8, "Unable to decode path", is one: the events of
# that batch are dropped with it), so the only way on is a new notifier and a look at the tree.
LOST = "lost"


class Notifier:
    """Events under `paths` (recursive, inotify/FSEvents; no polling) from when it is made."""

    def __init__(self, paths: Iterable[str]):
        from watchfiles._rust_notify import RustNotify

        # FileNotFoundError when a path does not exist (the caller picks new roots). A directory
        # devbox may not read is left out rather than failing the whole watch.
        self._notify = RustNotify(watch_paths=list(paths), debug=False, force_polling=False, poll_delay_ms=300,
                                  recursive=True, ignore_permission_denied=True)

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
