"""Changes devbox causes itself, which it must never react to.

Two kinds:
- files it writes: its state directory (paths.STATE_DIR, a hard rule in filters.PathFilter) and
  the files its own stdout and stderr go to. `devbox up > devbox.log` in the project is a common
  habit; each reload line written there would be a change that reloads again, forever. They are
  known by inode and device (os.fstat of fds 1 and 2), whatever the ignore rules say, so a
  rename or a second name of the same file is caught too.
- a loop through the app: a file that changes right after every action and never together with
  anything else (a pid file, a log or a sqlite database the app writes into the project at
  start). After `LOOP_COUNT` such actions in a row the file is muted for the session, and said
  once.
"""

from __future__ import annotations

import os
import stat
from typing import Callable, Dict, FrozenSet, Optional, Set, Tuple

# A change arriving within this long after an action ended counts as caused by it.
LOOP_WINDOW_S = 0.5
LOOP_COUNT = 4  # actions in a row, each followed by a change of this one file alone

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
    """Counts, per file, the actions in a row that were followed by a change of that file alone."""

    def __init__(self, on_loop: Callable[[str], None] = lambda rel: None):
        self.on_loop = on_loop
        self.muted: Set[str] = set()
        self._streak: Dict[str, int] = {}
        self._acted_at: Optional[float] = None

    def acted(self, at: float) -> None:
        """An action ended at `at` (epoch seconds)."""
        self._acted_at = at

    def is_loop(self, paths, t0: float) -> bool:
        """Whether a batch of `paths` whose first write was at `t0` is the loop of one file (from
        its LOOP_COUNT-th time on, when the file is muted and `on_loop` told)."""
        paths = list(paths)
        follows = self._acted_at is not None and t0 - self._acted_at <= LOOP_WINDOW_S
        if len(paths) != 1 or not follows:
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
