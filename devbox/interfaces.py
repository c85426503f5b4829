"""The host's seams, written down (as hupper's interfaces.py does): what the CLI, the watcher and
the tests may rely on, whatever class stands behind it.

- A Project is what the CLI drives: one container (session.Session) or a compose project
  (compose.ComposeSession). The CLI never asks which.
- A Target is where the watcher's batches go (targets.py, compose's per-service targets).
- A WatchFilter decides which raw changes matter and what a batch calls for (filters.PathFilter,
  compose's union over services).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Dict, Iterator, List, Optional, Protocol, Sequence, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    from devbox.actions import Action
    from devbox.status import ContainerStatus
    from devbox.watch import Batch, Watcher

Report = Callable[..., None]  # report(event, **fields): see devbox.events


@runtime_checkable
class Target(Protocol):
    """Acts on one classified batch: reload, sync, rebuild (ignore never arrives)."""

    report: Report

    def act(self, batch: "Batch") -> None: ...


@runtime_checkable
class WatchFilter(Protocol):
    """The watcher's filter: `__call__` drops raw changes early (watchfiles' filter signature),
    `classify_batch` decides a batch's action, `walk` lists the watched files under a path,
    `prunes` says which directories need no watch at all."""

    def __call__(self, change: int, path: str) -> bool: ...

    def classify_batch(self, paths: Sequence[str]) -> "Action": ...

    def walk(self, top=None) -> Iterator[str]: ...

    def prunes(self, path) -> bool:
        """Whether nothing under directory `path` can matter, so it need not be watched."""


@dataclass
class Serving:
    """What `Project.serve` leaves running. `urls` maps a compose service to its URLs, or None
    (a single container) to the project's; `watcher` is started and wired to the project's
    targets unless the project was started detached; `stop()` stops what serve started."""

    urls: Dict[Optional[str], List[str]]
    stop: Callable[[], float]
    watcher: Optional["Watcher"] = None
    unsupervised: List[str] = field(default_factory=list)


@dataclass
class Exec:
    """How to run a command in a project's container: a program to exec in devbox's place
    (`argv` with `env`), or, where there is none, the output of a run through the API."""

    argv: Optional[List[str]] = None
    env: Optional[Dict[str, str]] = None
    output: bytes = b""
    exit_code: int = 0


@runtime_checkable
class Project(Protocol):
    """One devbox project on one engine."""

    config: object  # devbox.config.Config

    def serve(self, watch: bool = True) -> Serving:
        """Start (or reuse) and return once it serves; with `watch`, a started watcher too."""

    def stop(self) -> float:
        """Stop what runs (containers are kept for a fast next `up`); seconds taken."""

    def down(self, volumes: bool = False) -> List[str]:
        """Stop and remove everything; the container names removed (none is fine)."""

    def status(self) -> List["ContainerStatus"]: ...

    def reload(self, service: Optional[str] = None) -> Dict[Optional[str], float]:
        """Reload now; label (None for a single container) -> ms until the new child serves."""

    def logs(self, services: Sequence[str], follow: bool, tail: Optional[int],
             on_output: Callable[[Optional[str], object], None]) -> None:
        """Each container's output: a single container's as (None, bytes) chunks as they come;
        a compose project's as (label, str) lines, history merged by time."""

    def exec(self, command: Sequence[str], tty: bool) -> Exec: ...
