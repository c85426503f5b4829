"""What a change calls for, weakest first: a batch takes the strongest action of its files."""

from __future__ import annotations

import enum
from typing import Iterable


class Action(str, enum.Enum):
    """A str, so it compares equal to its name in devbox.yml-facing text and tests ("reload")."""

    IGNORE = "ignore"  # nothing to do: an ignored path
    SYNC = "sync"  # the app reads it without restarting (watch.no_reload): copy it, if copying
    RELOAD = "reload"  # a new child (SIGHUP to the supervisor)
    REBUILD = "rebuild"  # an image input (watch.rebuild): rebuild and recreate
    # Never chosen for a path: asked for by hand (the dashboard's button), it outranks them all.
    RESTART = "restart"  # restart the container (a new supervisor), then serve again

    def __str__(self) -> str:
        return self.value

    @property
    def strength(self) -> int:
        return _ORDER.index(self)


_ORDER = list(Action)  # declaration order is strength order


def strongest(actions: Iterable[str]) -> Action:
    """The action that covers all of `actions`: rebuild > reload > sync > ignore."""
    return max((Action(a) for a in actions), key=lambda a: a.strength, default=Action.IGNORE)
