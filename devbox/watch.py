"""The host watcher: watchfiles events -> one classified action per batch -> the target.

Events always arrive on the host (inotify/FSEvents), even when the engine runs elsewhere. A
batch becomes one action, the strongest in it (rebuild > reload > sync > ignore).

Timing, the part that decides both latency and the number of reloads:

- A lone save is acted on as soon as the tree has been quiet for one `STEP_MS` (an editor's
  write-temp-and-rename is a handful of events well within it): no debounce delay on the common case.
  Woken from idle, the waker itself sees the writes pause (`SETTLE_QUIET_S`) and the notifier is
  then read in `COLLECT_STEP_MS` steps: a lone save's batch in ~5 ms instead of ~10.
- A burst is drained until the tree has been quiet for `debounce_ms`, then acted on once. Changes
  are a burst when they name many files at once (`BURST_FILES`: a checkout, a formatter run) or
  were found pending when an action ended (saves made during a reload, the rest of a checkout
  the first batch saw only part of). So a burst costs at most two actions, the last on the final
  tree. The longer a burst has lasted, the longer the pause that ends it (a quarter of its age, up
  to `MAX_QUIET_S`): a slow checkout on a loaded machine pauses for tens of milliseconds between
  files. `BURST_LIMIT_S` bounds the wait when something writes without pause.

A file whose bytes equal what was last acted on (a touch, a save without edits, an atomic rename
of the same content) is not a change; a known file found empty is given `EMPTIED_WAIT_MS` for the
write that may follow its truncation. A watched path that vanishes is watched again from its
nearest existing parent until it comes back; the watcher itself never dies of it. Nor of a
notifier that fails (a file name that is not UTF-8): it is replaced and the tree compared with
the content index. Changes devbox causes itself are never acted on (devbox.feedback).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

from devbox import feedback, filters
from devbox.batch import Batch
from devbox.batching import BatchBuilding
from devbox.content import ContentIndex
from devbox.notify import LOST, Change
from devbox.paths import STATE_DIR, covers

# watchfiles polls its event set every step: the quiet time that closes a lone save's batch. While
# idle the watcher sleeps in devbox.wakeup instead (else this would be the idle wake-up period
# too: about 0.5 % of a core at 5 ms).
STEP_MS = 5
WOKEN_TIMEOUT_MS = 100  # after a wake-up: how long the notifier may take to show that event
# After a wake-up the waker waits for its own events to pause this long (a save's writes come
# within microseconds of each other), and the notifier, which has them all by then, is read
# with this step: ~5 ms from the save to its batch instead of two 5 ms steps.
SETTLE_QUIET_S = 0.003
COLLECT_STEP_MS = 1
BURST_FILES = 10
BURST_LIMIT_S = 2.0
MAX_QUIET_S = 0.5
# A known file found empty (a save that truncates, then writes: Python's write_text, many editors)
# may be a writer caught between the two on a loaded machine: its write gets this long to come.
EMPTIED_WAIT_MS = 50
CANARY_S = 1.0  # how long a probe write at start may take to raise its event
# How often an idle watcher without a waker looks at the stop event and vanished paths, and so the
# longest a `devbox wait` waits for an idle collect to end (0.69 % of a core idle at 100 ms, 0.63 % at 500).
IDLE_TIMEOUT_MS = 100
# The same with a waker, which wakes for those itself (a vanished or returning root is an event
# in a watched directory; the stop event and `hurry_up()` interrupt it): a safety net only.
IDLE_WAKER_TIMEOUT_S = 5.0

class _StopEvent(threading.Event):
    """The watcher's own stop event: setting it also wakes an idle watcher at once."""

    def __init__(self, on_set: Callable[[], None]):
        super().__init__()
        self._on_set = on_set

    def set(self) -> None:
        super().set()
        self._on_set()


class Watcher(BatchBuilding):
    """Runs watchfiles over `paths` (relative to `root`) and calls `on_batch(batch)` for each
    batch worth acting on.

    `on_unchanged(paths)` hears of batches dropped by the content check, `on_loop(path)` of a
    file muted because it changes after every action and alone (devbox.feedback),
    `on_polling(reason, paths)` (once) of file events that do not arrive, so the watched
    paths are polled instead, `on_unreadable(path)` (once per directory) of a directory devbox
    may not read, left out while the rest is watched. With `config_file` and
    `on_config(batch)`, a changed config file goes to `on_config` first (the rest of its batch,
    if any, to `on_batch`). `on_error(batch, exc)` hears of an action that raised; without it the
    exception ends `run()`.
    """

    def __init__(self, root: Path, paths, path_filter: "filters.PathFilter", debounce_ms: int,
                 on_batch: Callable[[Batch], None], on_unchanged: Callable[[List[str]], None] = lambda p: None,
                 stop_event: Optional[threading.Event] = None, config_file: Optional[Path] = None,
                 on_config: Optional[Callable[[Batch], None]] = None,
                 on_error: Optional[Callable[[Batch, Exception], None]] = None,
                 on_loop: Callable[[str], None] = lambda rel: None,
                 on_polling: Callable[[str, List[str]], None] = lambda reason, paths: None,
                 on_unreadable: Callable[[str], None] = lambda rel: None):
        self.root = Path(root).resolve()
        self.on_batch = on_batch
        self.on_unchanged = on_unchanged
        self.on_config = on_config
        self.on_error = on_error
        self.config_file = config_file
        self.stop_event = stop_event or _StopEvent(self._interrupt)
        self.contents = ContentIndex(self.root)
        self.own_outputs = feedback.own_outputs()
        self.loops = feedback.LoopGuard(on_loop)
        self.on_polling = on_polling
        self.on_unreadable = on_unreadable
        self._told_unreadable: set = set()
        self._poll: Optional[str] = None  # why every notifier from now on polls, once known
        self._told_polling = False
        self._prefixes = tuple(dict.fromkeys((str(Path(root).absolute()), str(self.root))))
        self._notify = None
        self._waker = None  # blocks while idle (devbox.wakeup); None: step through the notifier
        self._watched: Tuple[Path, ...] = ()
        self._reopen = False
        self._lost = False  # a watched root itself was deleted: its watch is gone even if it is back
        self.files: Optional[int] = None
        self._since = time.time()  # every change of the next batch happened after this
        # For `devbox wait`: polls counts the collects begun; on_quiet(n) hears that collect n
        # found nothing pending (so every change made before it began has been acted on).
        # While `hurry` is set an idle collect lasts one step, so a waiter learns it soon.
        self.polls = 0
        self.on_quiet: Callable[[int], None] = lambda poll: None
        self.hurry = threading.Event()
        self._asked: List[Batch] = []  # batches asked for by hand (`ask`), acted on in turn
        self._asked_lock = threading.Lock()
        self.reconfigure(paths, path_filter, debounce_ms)

    # -- setup ---------------------------------------------------------------------------------

    def reconfigure(self, paths, path_filter, debounce_ms: int) -> None:
        """New paths, rules or debounce (devbox.yml changed); takes effect at the next batch."""
        self.rel_paths = [Path(os.path.normpath(p)).as_posix() for p in paths]
        self.paths = [self.root / p for p in self.rel_paths]
        self.filter = path_filter
        self.debounce_ms = debounce_ms
        if self._notify is not None:
            self._reopen = True

    def start(self) -> int:
        """Start receiving events, then hash the watched files (in that order, so no save falls
        between the two); the number of files. From here on no change is missed, even one made
        before `run()`: start before the app is started and a save made while it starts is
        acted on when `run()` begins."""
        if self.files is None:
            if self._open() and self._notify.polling is None and not self._hears_canary():
                self._poll = (f"no file events arrive from {', '.join(self._display(p) for p in self._watched)}"
                              " (a VM share or a network mount?)")
                self._open()
            self.files = self.prime()
        return self.files

    def _hears_canary(self) -> bool:
        """Whether each watched root delivers events: a probe file written under it must be seen
        within CANARY_S (inotify takes a few milliseconds). A root devbox may not write to is
        taken on trust. Events other than the probes' are dropped: the files are hashed next."""
        probes = {}
        for root in self._watched:
            probe = os.path.join(str(root), f"{STATE_DIR}-canary-{os.getpid()}")
            try:
                with open(probe, "w") as f:
                    f.write("devbox checks that file events arrive here\n")
                probes[probe] = root
            except OSError:
                continue
        written = list(probes)
        deadline = time.monotonic() + CANARY_S
        try:
            while probes and time.monotonic() < deadline:
                result = self._notify.watch(debounce_ms=int(CANARY_S * 1000), step_ms=STEP_MS,
                                            timeout_ms=max(1, int((deadline - time.monotonic()) * 1000)))
                if not isinstance(result, str):
                    for _, path in result:
                        probes.pop(path, None)
            return not probes
        finally:
            for probe in written:
                os.unlink(probe)

    def _display(self, path: Path) -> str:
        return self._relative(str(path)) or "."

    def hurry_up(self) -> None:
        """Step through idle collects until `hurry` is cleared (someone waits for a quiet one),
        starting with the one asleep now."""
        self.hurry.set()
        self._interrupt()

    def ask(self, batch: Batch) -> None:
        """Act on `batch` (asked for by hand: the dashboard's buttons) in the watcher's loop, in
        turn with the saves, as soon as the action under way (if any) ends."""
        with self._asked_lock:
            self._asked.append(batch)
        self._interrupt()

    def _take_asked(self) -> List[Batch]:
        with self._asked_lock:
            asked, self._asked = self._asked, []
        return asked

    def _interrupt(self) -> None:
        waker = self._waker
        if waker is not None:
            waker.interrupt()

    def close(self) -> None:
        if self._notify is not None:
            self._notify.close()
            self._notify = None
        if self._waker is not None:
            self._waker.close()
            self._waker = None

    def _roots(self) -> Tuple[Path, ...]:
        """What to hand the notifier: each watched directory, or its nearest existing parent while
        it is missing; none inside another. A watched file is watched through its directory: a
        watch on the file itself would end at its first rename-save."""
        roots = []
        for path in self.paths:
            while not path.is_dir() and path != self.root:
                path = path.parent
            if path.exists():
                roots.append(path)
        roots.sort(key=lambda p: len(p.parts))
        kept: List[Path] = []
        for path in roots:
            if not any(path == k or k in path.parents for k in kept):
                kept.append(path)
        return tuple(kept)

    def _open(self) -> bool:
        """(Re)start the notifier on the current roots; False when there is nothing to watch."""
        from devbox.notify import Notifier

        self.close()
        self._reopen = self._lost = False
        while True:
            self._watched = self._roots()
            if not self._watched:
                return False
            try:
                self._notify = Notifier((str(p) for p in self._watched), poll=self._poll, prune=self.filter.prunes)
            except FileNotFoundError:  # a root vanished between the check and the watch
                continue
            if self._notify.polling and not self._told_polling:
                self._told_polling = True
                self.on_polling(self._notify.polling, [self._display(p) for p in self._watched])
            if not self._notify.polling:  # a poller's changes raise no inotify event to wake on
                from devbox import wakeup

                self._waker = wakeup.for_roots((str(p) for p in self._watched), self.filter.prunes)
            return True

    def _roots_moved(self) -> bool:
        return self._reopen or self._lost or self._roots() != self._watched

    # -- the loop ------------------------------------------------------------------------------

    def run(self) -> None:
        """Watch and act until the stop event is set or Ctrl-C (KeyboardInterrupt)."""
        self.start()
        burst_since: Optional[float] = None  # the first write of the burst being drained, if any
        try:
            while not self.stop_event.is_set():
                if self._notify is None or self._roots_moved():
                    reconfigured = self._reopen
                    if not self._open():
                        self.stop_event.wait(IDLE_TIMEOUT_MS / 1000.0)  # the project itself is gone
                        continue
                    if reconfigured:  # newly watched files are taken as they are now
                        self.contents.prime(self._unknown_files())
                    else:
                        self._rescan()
                for asked in self._take_asked():
                    self._act(asked)
                self.polls += 1
                raw = self._collect(burst_since)
                if raw is None:
                    burst_since = None
                    self.on_quiet(self.polls)
                    continue
                batch = self.to_batch((change, path) for path, change in raw.items())
                self._since = time.time()
                if batch is not None and len(batch.paths) == 1 and self._is_loop(batch):
                    batch = None
                if batch is not None:
                    started = time.time()
                    self._act(batch)
                    self.loops.acted(started, batch.settled_at or time.time())
                # Anything pending once this action ends continues the burst.
                burst_since = (burst_since or batch.t0) if batch is not None else None
        finally:
            self.close()

    def _is_loop(self, batch: Batch) -> bool:
        try:
            last = os.lstat(os.path.join(self.root, batch.paths[0])).st_mtime
        except OSError:  # deleted: no loop writes it
            return False
        return self.loops.is_loop(batch.paths, batch.t0, last)

    def _wait(self, timeout_ms: int, step_ms: int = STEP_MS) -> Optional[Dict[str, int]]:
        """One batch from the notifier, filtered: {} when only ignored paths changed, None on
        timeout or stop; Ctrl-C raises KeyboardInterrupt."""
        result = self._notify.watch(debounce_ms=int(BURST_LIMIT_S * 1000), step_ms=step_ms,
                                    timeout_ms=max(1, int(timeout_ms)))
        if result == "signal":
            raise KeyboardInterrupt
        if result == LOST:
            self._lost = True  # `run` replaces the notifier and compares the tree with the index
            return None
        if isinstance(result, str):  # "timeout" or "stop"
            return None
        kept: Dict[str, int] = {}
        for change, path in result:
            if change == Change.deleted and any(path == str(root) for root in self._watched):
                self._lost = True
            elif change == Change.added and self._notify.per_directory and os.path.isdir(path):
                self._lost = True  # watched directory by directory: a new one needs a new notifier
            if (self.filter(change, path) or self._is_config(path)) and not self._own(path):
                kept[path] = change
        return kept

    def _collect(self, burst_since: Optional[float]) -> Optional[Dict[str, int]]:
        """The raw changes of the next batch, or None when there are none (yet). A lone save is
        returned once quiet for a step; a burst (see the module docstring) is drained first.
        `burst_since`: the burst the last action belonged to, if it may still be going on."""
        if burst_since or self.hurry.is_set():
            changes = self._wait(STEP_MS)
        elif self._waker is not None:
            # Idle: sleep in the waker, then step through what the notifier has. A wake-up that
            # the notifier has nothing for (an ignored directory's write) costs one short wait.
            woken = self._waker.wait(IDLE_WAKER_TIMEOUT_S)
            if woken:  # the waker sees the save's end itself; the notifier then needs two short steps
                self._waker.settle(SETTLE_QUIET_S, self.debounce_ms / 1000.0)
            changes = self._wait(WOKEN_TIMEOUT_MS if woken else 1, COLLECT_STEP_MS if woken else STEP_MS)
        else:
            changes = self._wait(IDLE_TIMEOUT_MS)
        if not changes:
            return None
        if burst_since is None:
            if len(changes) < BURST_FILES:
                if any(change == Change.added and self._relative(path) not in self.contents for path, change in changes.items()):
                    # A new file may be an editor's temporary copy about to be renamed over its
                    # target (an atomic save): give the rename a moment to join this batch.
                    changes.update(self._wait(self.debounce_ms) or {})
                elif any(self.contents.emptied(rel) for rel in map(self._relative, changes) if rel):
                    changes.update(self._wait(EMPTIED_WAIT_MS) or {})
                return changes
            burst_since = time.time()
        started = last = time.monotonic()
        while time.monotonic() - started < BURST_LIMIT_S and not self.stop_event.is_set():
            age = time.time() - burst_since
            quiet = max(STEP_MS / 1000.0, self.debounce_ms / 1000.0, min(age / 4.0, MAX_QUIET_S))
            waited = time.monotonic() - last
            if waited >= quiet:
                break
            more = self._wait((quiet - waited) * 1000.0)
            if more:
                changes.update(more)
                last = time.monotonic()
        return changes

    def _act(self, batch: Batch) -> None:
        config_rel = self.config_rel
        if self.on_config is not None and config_rel in batch.changed:
            self._call(self.on_config, Batch(action=filters.RELOAD, changed=[config_rel], t0=batch.t0, at=batch.at))
            batch.changed.remove(config_rel)
            batch.action = self.filter.classify_batch(batch.paths)
            if batch.action == filters.IGNORE:
                return
        self._call(self.on_batch, batch)

    def _call(self, handler: Callable[[Batch], None], batch: Batch) -> None:
        try:
            handler(batch)
        except Exception as exc:  # one failed action must not end the session
            if self.on_error is None:
                raise
            self.on_error(batch, exc)

    def _rescan(self) -> None:
        """After the notifier restarted because a watched path vanished or came back: the events
        the old one held are gone with it, so the tree is compared with the content index
        instead (every watched file hashed, every known one looked for), and what differs is
        acted on as one batch."""
        on_disk = {rel for path in self.paths if path.exists() for rel in self._walk(path)}
        gone = {rel for rel in self.contents.known() if covers(self.rel_paths, rel) and rel not in on_disk}
        raw = [(Change.added, os.path.join(self.root, rel)) for rel in sorted(on_disk | gone)]
        batch = self.to_batch(raw) if raw else None
        if batch is not None:
            self._act(batch)

    def _unknown_files(self) -> List[str]:
        return sorted({rel for path in self.paths if path.exists() for rel in self._walk(path)
                       if rel not in self.contents})
