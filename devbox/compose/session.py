"""The compose session: one compose project on one engine (up, stop, down, status, reload,
logs, exec), a devbox Project like the single-container session."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import yaml

from devbox import events, hooks, injected, logs
from devbox import status as statuses
from devbox.compose.cli import ComposeCLI, find_cli
from devbox.compose.dispatch import Running, ServiceTarget
from devbox.compose.inspection import ComposeInspection
from devbox.compose.labels import COMPOSE_ONEOFF, COMPOSE_PROJECT, COMPOSE_SERVICE, number
from devbox.compose.override import gated, hook_workdir, hooked_service, missing_services, plan_override
from devbox.compose.serving import ComposeServing
from devbox.errors import ComposeError, DevboxError
from devbox.paths import STATE_DIR, write_state_file
from devbox.supervisor import protocol
from devbox.targets import RELOAD_TIMEOUT

READY_TIMEOUT = 60.0
# Where the injected supervisor's files go in the host copy: the archive paths without this.

Report = Callable[..., None]


def _noop(event, **fields):
    pass


class ComposeSession(ComposeServing, ComposeInspection):
    """One compose project on one engine: up, stop, down, status, reload, logs, exec."""

    def __init__(self, config, connect: Callable[[], object], report: Report = _noop,
                 environ: Optional[Mapping[str, str]] = None, cli: Optional[Tuple[str, ...]] = None):
        self.config = config
        self.compose = config.compose
        self.report = report
        self.environ = dict(os.environ if environ is None else environ)
        self._connect = connect
        self._engine = None
        self._cli = None
        self._cli_argv = cli
        self.state_dir = config.root / STATE_DIR
        self.override_path = self.state_dir / f"compose.{self.compose.project_name}.yml"
        self.display = self.compose.file
        self.lifecycle = hooks.Lifecycle(config, report)

    # -- collaborators, made on first use ----------------------------------------------------
    @property
    def engine(self):
        if self._engine is None:
            self._engine = self._connect()
        return self._engine

    @property
    def client(self):
        return self.engine.client

    @property
    def cli(self) -> ComposeCLI:
        if self._cli is None:
            argv = self._cli_argv or find_cli(self.environ)
            self._cli = ComposeCLI(argv, self.compose.project_name, [*self.user_files, self.override_path],
                                   self.environ)
        return self._cli

    @property
    def user_files(self) -> List[Path]:
        """The user's compose files, in compose's merge order (never modified)."""
        return [self.compose.file_path, *self.compose.overrides]

    def supervised(self, name: str) -> bool:
        return any(s.name == name for s in self.compose.services)

    # -- preparing the files -----------------------------------------------------------------
    def prepare(self) -> dict:
        """Check the compose CLI, the user's file and the services devbox.yml names, then write
        the override. Returns the user's services as compose reads them."""
        cli = self.cli
        if not self.compose.file_path.is_file():
            what = "is a directory, not a file" if self.compose.file_path.is_dir() else "no such file"
            raise ComposeError(f"{self.display}: {what} (compose.file in {self.config.path.name})",
                               f"check the path; it is relative to {self.config.root}")
        user = cli.config(self.user_files, self.display).get("services") or {}
        problem = missing_services(self.config, user, self.display)
        if problem is not None:
            raise problem
        self.write_override(user)
        return user

    def write_override(self, user_services: Mapping[str, dict]) -> Path:
        remote = self.engine.remote
        supervisor_dir = None if remote else injected.write_copy(self.state_dir / "supervisor")
        content = plan_override(self.config, user_services, supervisor_dir, injected.supervisor_digest())
        header = (f"# Written by devbox for {self.config.path.name}; regenerated on every `devbox up`.\n"
                  f"# Used as: {self.cli.name} -p {self.compose.project_name} -f {self.display} -f {self.override_path}\n")
        write_state_file(self.override_path, header + yaml.safe_dump(content, sort_keys=False, width=1000))
        return self.override_path

    # -- finding containers ------------------------------------------------------------------
    def containers(self, all: bool = True) -> List:
        """The project's service containers (not `compose run` one-offs), by compose's labels."""
        found = self.client.containers.list(
            all=all, filters={"label": f"{COMPOSE_PROJECT}={self.compose.project_name}"})
        found = [c for c in found if c.labels.get(COMPOSE_ONEOFF, "False") != "True"]
        return sorted(found, key=lambda c: (c.labels.get(COMPOSE_SERVICE, ""), number(c)))

    def by_service(self, all: bool = True) -> Dict[str, List]:
        grouped: Dict[str, List] = {}
        for container in self.containers(all=all):
            grouped.setdefault(container.labels.get(COMPOSE_SERVICE, "?"), []).append(container)
        return grouped

    def labels_of(self, grouped: Mapping[str, List]) -> Dict[str, object]:
        """label -> container: the service name, with .N for replicas after the first."""
        result = {}
        for name, containers in grouped.items():
            for i, container in enumerate(containers):
                result[name if i == 0 else f"{name}.{number(container)}"] = container
        return result

    def running(self, service: str):
        """The running containers of `service`, or an error saying what exists."""
        grouped = self.by_service(all=True)
        if not grouped:
            raise DevboxError(f"{self.config.name} is not up", "start it with `devbox up`")
        if service not in grouped:
            raise DevboxError(f"no service '{service}' in {self.display}",
                              f"its services: {', '.join(sorted(grouped))}")
        up = [c for c in grouped[service] if c.status == "running"]
        if not up:
            raise DevboxError(f"service {service} is not running", "start it with `devbox up`")
        return up

    # -- lifecycle ---------------------------------------------------------------------------
    def up(self, build: bool = True) -> Running:
        """Start the project with compose; the supervised services are serving (or showing
        their error page) when this returns."""
        user = self.prepare()
        before = {c.id: c.attrs["State"].get("StartedAt") for c in self.containers()}
        self.report(events.COMPOSE_UP, cli=self.cli.name, project=self.compose.project_name, file=self.display,
                    services=sorted(user))
        try:
            self._compose_up([], build=build, only=self._run_services())
            return self._attach(before)
        except KeyboardInterrupt:
            self.stop()  # nothing left running after Ctrl-C
            raise

    def _run_services(self) -> List[str]:
        """The services a whole-project `up` starts: all (an empty list), or `run_services` and
        the supervised ones (their dependencies come too)."""
        chosen = self.compose.run_services
        if chosen is None:
            return []
        return list(dict.fromkeys([*chosen, *(s.name for s in self.compose.services)]))

    def _compose_up(self, services: Sequence[str], build: bool, only: Sequence[str] = ()) -> None:
        """`up` of the project (of `only`, with their dependencies), or of `services` alone."""
        extra = ["--build"] if build else []
        if services:
            extra += ["--no-deps", *services]
        extra += list(only)
        before = {c.id: c.attrs["State"].get("StartedAt") for c in self.containers()}
        self.lifecycle = hooks.Lifecycle(self.config, self.report)
        self.lifecycle.host()
        gate_service = self.compose.service(hooked_service(self.config))
        if self.engine.remote or gated(self.config, gate_service):
            # A remote engine cannot see a host directory, and a gate goes in before the first
            # start: create, copy in, start.
            self.cli.run("up", "--no-start", *extra, report=self.report, what="up")
            self._inject(services, before)
            extra = [a for a in extra if a != "--build"]
        self.cli.run("up", "-d", *extra, report=self.report, what="up")
        self._after_start(before)

    def _inject(self, services: Sequence[str], before: Mapping[str, str]) -> None:
        """The supervisor into the supervised services' containers (remote engine), and the gate
        into new containers of the hooked service."""
        from devbox import gate

        archive = injected.supervisor_archive() if self.engine.remote else None
        for name, containers in self.by_service().items():
            if self.supervised(name) and (not services or name in services):
                for container in containers:
                    if archive is not None:
                        container.put_archive("/", archive)
                    if gated(self.config, self.compose.service(name)) and container.id not in before:
                        container.put_archive("/", gate.archive())

    def _place(self) -> hooks.Place:
        service = self.compose.service(hooked_service(self.config))
        return hooks.Place(user=self.config.user, workdir=hook_workdir(self.config), env=service.env_dict(),
                           gated=gated(self.config, service))

    def _after_start(self, before: Mapping[str, str]) -> None:
        """The container moments in the hooked service's container, when compose (re)started it."""
        for container in self.by_service(all=False).get(hooked_service(self.config), [])[:1]:
            if before.get(container.id) != container.attrs["State"].get("StartedAt"):
                hooks.after_start(self.client, container, self._place(), self.lifecycle,
                                  created=container.id not in before)

    def _attach(self, before: Mapping[str, str], only: Optional[Sequence[str]] = None,
                into: Optional[Running] = None) -> Running:
        """Follow every container's output; wait until new supervised containers are ready."""
        grouped = self.by_service(all=False)
        running = into or Running(targets=[], streams={}, urls={}, unsupervised=[])
        waits = []
        for label, container in self.labels_of(grouped).items():
            service = container.labels.get(COMPOSE_SERVICE, label)
            if only is not None and service not in only:
                continue
            started = container.attrs["State"].get("StartedAt")
            fresh = before.get(container.id) != started
            stream = logs.follow(container, self._reporter(label), since=logs.run_since(started) if fresh else None,
                                 tail="all" if fresh else 0)
            old = running.streams.get(label)
            if old is not None:  # the same container followed again (a rebuild kept it): once is enough
                old.close()
            running.streams[label] = stream
            if not self.supervised(service):
                if service not in running.unsupervised:
                    running.unsupervised.append(service)
                continue
            known = next((t for t in running.targets if t.label == label), None)
            if known is not None:  # recovery holds the target: the new container becomes its
                known.adopt(container, stream)
            else:
                running.targets.append(ServiceTarget(service, label, container, stream, self._reporter(label)))
            port = self.compose.service(service).port
            running.urls[service] = statuses.published_urls(container, port) or running.urls.get(service, [])
            if fresh:
                waits.append((container, stream))
        for container, stream in waits:
            logs.wait_ready(container, stream, after=0, timeout=READY_TIMEOUT)
        order = [s.name for s in self.compose.services]
        running.urls = {name: running.urls[name] for name in order if name in running.urls}
        return running

    def _reporter(self, label: str) -> Report:
        report = self.report
        return lambda event, **fields: report(event, service=label, **fields)

    def rebuild(self, running: Running, services: Sequence[str], paths: Sequence[str]) -> List[str]:
        """Rebuild the images of `services`; compose recreates the containers whose image (or
        configuration) changed, the others keep running. Returns the services recreated."""
        for service in services:
            self.report(events.REBUILDING, paths=list(paths), service=service)
        started = time.monotonic()
        before = {c.id: c.attrs["State"].get("StartedAt") for c in self.containers()}
        self.write_override(self.cli.config(self.user_files, self.display).get("services") or {})
        self._compose_up(services, build=True)
        self._attach(before, only=services, into=running)
        recreated = sorted({c.labels.get(COMPOSE_SERVICE) for c in self.containers(all=False)
                            if c.labels.get(COMPOSE_SERVICE) in services
                            and before.get(c.id) != c.attrs["State"].get("StartedAt")})
        for service in recreated:
            self.report(events.REBUILT, seconds=time.monotonic() - started, service=service)
        return recreated

    def bring_back(self, running: Running, services: Sequence[str]) -> None:
        """`services` (all of them: empty) started again as `up` starts them, and followed; serving
        when this returns (devbox.recovery, through compose.healing)."""
        before = {c.id: c.attrs["State"].get("StartedAt") for c in self.containers()}
        if services:
            self._compose_up(services, build=False)
        else:
            self._compose_up([], build=False, only=self._run_services())
        self._attach(before, only=list(services) or None, into=running)

    def refollow(self, running: Running, label: str) -> None:
        """A supervised container someone else restarted: its output since it started."""
        target = next(t for t in running.targets if t.label == label)
        target.container.reload()
        stream = logs.follow_run(target.container, self._reporter(label))
        running.streams[label] = stream
        target.adopt(target.container, stream)

    def stop(self) -> float:
        """Stop the project's containers (kept for a fast next `up`); seconds taken."""
        started = time.monotonic()
        if self.containers(all=False):
            self.cli.run("stop", report=self.report)
        return time.monotonic() - started

    def down(self, volumes: bool = False) -> List[str]:
        """`compose down` (containers and networks), then anything left with the project's labels.

        Only the user's file is needed to find the project. When compose cannot run (the file was
        deleted or broken, no CLI), the labels alone are enough: down always cleans up."""
        names = [c.name for c in self.containers()]
        try:
            self.cli.run("down", *(["-v"] if volumes else []), "--remove-orphans", report=self.report,
                         files=self.user_files)
        except ComposeError as exc:
            self.report(events.COMPOSE_UNUSABLE, error=exc.message)
        for container in self.containers():
            container.remove(force=True, v=volumes)
        for network in self.client.networks.list(filters={"label": f"{COMPOSE_PROJECT}={self.compose.project_name}"}):
            network.remove()
        return names

    def reload(self, service: Optional[str] = None, timeout: float = RELOAD_TIMEOUT) -> Dict[str, float]:
        """SIGHUP the supervised service (all of them without `service`); label -> ms to ready."""
        names = [service] if service else [s.name for s in self.compose.services]
        for name in names:
            if not self.supervised(name):
                raise DevboxError(f"service {name} is not supervised by devbox, so it cannot be reloaded",
                                  f"supervised services: {', '.join(s.name for s in self.compose.services)}")
        jobs = []
        for name in names:
            containers = self.running(name)
            for i, container in enumerate(containers):
                label = name if i == 0 else f"{name}.{number(container)}"
                jobs.append((label, container, logs.follow(container, self._reporter(label), since=None, tail=0)))
        sent = time.time()
        for _, container, _ in jobs:
            container.kill(signal=protocol.RELOAD_SIGNAL)
        result = {}
        for label, container, stream in jobs:
            event = logs.wait_ready(container, stream, after=0, timeout=timeout)
            result[label] = (event[2] - sent) * 1000.0
        return result
