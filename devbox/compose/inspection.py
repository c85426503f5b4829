"""Looking into a running compose project: `devbox status` (a row per container, supervised or
not), `devbox logs` (each container's output, history merged by time) and `devbox exec` (compose
exec in a named service).

A mixin of devbox.compose.session.ComposeSession: it uses the session's containers, cli and
config.
"""

from __future__ import annotations

import threading
from typing import Callable, List, Optional, Sequence

from devbox import logs
from devbox import status as statuses
from devbox.compose.labels import COMPOSE_SERVICE
from devbox.errors import DevboxError, UsageError
from devbox.interfaces import Exec


class ComposeInspection:
    """status, logs and exec of a compose session (see the module docstring)."""

    def status(self) -> List[statuses.ContainerStatus]:
        """One row per container, supervised or not."""
        rows = []
        for label, container in self.labels_of(self.by_service()).items():
            supervised = self.supervised(container.labels.get(COMPOSE_SERVICE, label))
            supervisor = statuses.read_supervisor_status(container) if container.status == "running" and supervised else {}
            rows.append(statuses.of_container(container, label, supervisor, supervised=supervised))
        return rows

    def logs(self, services: Sequence[str], follow: bool, tail: Optional[int],
             on_output: Callable[[Optional[str], object], None]) -> None:
        """Each container's output as (label, line), history merged by time; with `follow`, lines
        as they come until every stream ends."""
        chosen = self.labels_of({name: cs for name, cs in self.by_service().items()
                                 if not services or name in services})
        if services:
            unknown = sorted(set(services) - {c.labels.get(COMPOSE_SERVICE) for c in chosen.values()})
            if unknown:
                raise DevboxError(f"no service {', '.join(unknown)} in the running project {self.config.name}",
                                  "see `devbox status`")
        if not chosen:
            raise DevboxError(f"{self.config.name} is not up", "start it with `devbox up`")
        tail_arg = "all" if tail is None else tail
        if not follow:
            lines = []
            for label, container in chosen.items():
                raw = container.logs(timestamps=True, tail=tail_arg).decode("utf-8", "replace")
                for line in raw.splitlines():
                    stamp, _, text = line.partition(" ")
                    lines.append((stamp, label, text))
            for _, label, text in sorted(lines, key=lambda item: item[0]):
                on_output(label, text)
            return
        threads = []
        for label, container in chosen.items():
            def pump(label=label, container=container):
                for line in logs.split_lines(container.logs(stream=True, follow=True, tail=tail_arg)):
                    on_output(label, line)
            thread = threading.Thread(target=pump, daemon=True, name=f"logs-{label}")
            thread.start()
            threads.append(thread)
        for thread in threads:
            while thread.is_alive():
                thread.join(0.5)  # a timed join lets Ctrl-C through

    def exec(self, command: Sequence[str], tty: bool) -> Exec:
        """`compose exec SERVICE COMMAND...` (the first word names the service)."""
        if not command:
            raise UsageError("name the service: `devbox exec SERVICE [COMMAND...]`")
        service, *rest = command
        self.running(service)
        files = self.user_files + ([self.override_path] if self.override_path.is_file() else [])
        argv = self.cli.command("exec", *([] if tty else ["-T"]), service, *(rest or ["sh"]), files=files)
        return Exec(argv=argv, env=self.cli.environ)
