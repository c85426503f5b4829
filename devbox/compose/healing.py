"""A compose project as devbox.recovery's patient: the supervised services' containers, each
brought back alone (`compose up -d --no-deps SERVICE`) when it stops underneath, and the whole
project (`compose up -d`, as `devbox up` starts it) when the engine answers again."""

from __future__ import annotations

import threading
from typing import Dict

from devbox.compose.labels import COMPOSE_SERVICE


class ComposePatient:
    """recovery.Patient over a ComposeSession and what its `up` left running."""

    def __init__(self, session, running):
        self.session = session
        self.running = running
        self.lock = threading.RLock()

    def _target(self, label: str):
        return next(t for t in self.running.targets if t.label == label)

    def containers(self) -> Dict[str, object]:
        return {t.label: t.container for t in self.running.targets}

    def following(self, label: str) -> bool:
        return not self._target(label).stream.ended

    def refollow(self, label: str) -> None:
        self.session.refollow(self.running, label)

    def restart(self, label: str) -> None:
        service = self._target(label).container.labels.get(COMPOSE_SERVICE, label)
        self.session.bring_back(self.running, [service])

    def bring_back(self) -> None:
        self.session.bring_back(self.running, [])
