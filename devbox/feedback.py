"""Changes devbox causes itself, which it must never react to.

Two kinds:
- files it writes: its state directory (paths.STATE_DIR, a hard rule in filters.PathFilter) and
  the files its own stdout and stderr go to. `devbox up > devbox.log` in the project is a common
  habit; each reload line written there would be a change that reloads again, forever. They are
  known by inode and device (os.fstat of fds 1 and 2), whatever the ignore rules say, so a
  rename or a second name of the same file is caught too.
- a loop through the app: a file that is written while each action runs, and only then (the
  new child imports: a pid file, a log or a sqlite database the app writes into the project at
  start), and never changes together with anything else. After `LOOP_COUNT` such actions in a
  row the file is muted for the session, and said once. A person saving the same file again and
  again saves after the reload; one saving faster than it reloads goes on saving after it ends:
  neither is taken for a loop.
"""

from __future__ import annotations

import os
import stat
from typing import Callable, Dict, FrozenSet, Optional, Set, Tuple

# A write this soon after an action ended still counts as made during it (the app's last
# writes as it becomes ready, file system time granularity).
LOOP_SLACK_S = 0.05
LOOP_COUNT = 10  # actions in a row, each with this one file alone written during it (a fast
# typist or a script saving as fast as devbox reloads may do it a few times; a loop goes on forever)

FileId = Tuple[int, int]  # (st_dev, st_ino)


def own_outputs(fds=(1, 2)) -> FrozenSet[FileId]:
    """The regular files this process's stdout and stderr are redirected to."""
    found = set()
    for fd in fds:
        try:
            info = os.fstat(fd)
        except OSError:  # closed
            continue
        if stat.S_ISREG(info.st_mode):
            found.add((info.st_dev, info.st_ino))
    return frozenset(found)


class LoopGuard:
    """Counts, per file, the actions in a row during which that file alone was written."""

    def __init__(self, on_loop: Callable[[str], None] = lambda rel: None):
        self.on_loop = on_loop
        self.muted: Set[str] = set()
        self._streak: Dict[str, int] = {}
        self._action: Optional[Tuple[float, float]] = None

    def acted(self, started: float, ended: float) -> None:
        """An action ran from `started` to `ended` (epoch seconds): for a reload, until the new
        code answered (Batch.settled_at), not until devbox heard of it."""
        self._action = (started, ended)

    def is_loop(self, paths, first: float, last: float) -> bool:
        """Whether a batch of `paths`, written from `first` to `last` (epoch seconds), is the loop
        of one file (from its LOOP_COUNT-th time on, when the file is muted and `on_loop` told)."""
        paths = list(paths)
        during = self._action is not None and self._action[0] - LOOP_SLACK_S <= first \
            and last <= self._action[1] + LOOP_SLACK_S
        if len(paths) != 1 or not during:
            self._streak.clear()
            return False
        rel = paths[0]
        count = self._streak.get(rel, 0) + 1
        self._streak = {rel: count}
        if count < LOOP_COUNT:
            return False
        self.muted.add(rel)
        self.on_loop(rel)
        return True
