"""One classified batch of changes: what the watcher hands a target."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional

from devbox.actions import Action


@dataclass
class Batch:
    action: Action
    changed: List[str]  # project-relative paths, sorted, changed or created
    deleted: List[str] = field(default_factory=list)
    t0: float = 0.0  # epoch seconds of the earliest write in the batch (file mtime), else arrival
    at: float = 0.0  # epoch seconds when the watcher handed the batch over
    # Epoch seconds when its reload took effect (the new code answered, or crashed), on our
    # clock; set by the target. The event saying so arrives later (the log stream's delay), and
    # the loop detector must not count a save made meanwhile as written during the reload.
    # 0.0: not known (the action took effect when it returned).
    settled_at: float = 0.0
    # Asked for by hand (the dashboard), not by a save: for these compose services ([] or
    # [""]: every one, or the single container), whatever the paths say.
    services: Optional[List[str]] = None

    @property
    def paths(self) -> List[str]:
        return sorted(self.changed + self.deleted)
