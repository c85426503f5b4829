"""Compose projects: the user's compose file, run by the real compose CLI, with devbox's
supervisor in the services devbox.yml names.

The user's file is never touched. devbox writes an override file (a second ``-f``) under the
project's ``.devbox/`` directory that gives each supervised service the supervisor as its
command, the supervisor's files (a read-only bind mount of a host copy for a local engine; copied
in with put_archive between ``up --no-start`` and the start for a remote one), devbox labels and
stop settings. Everything else (build, volumes, networks, the services devbox does not supervise)
is compose's business.

Containers are found by compose's own labels; reloads go straight to a container through the
Docker API (SIGHUP), so a reload costs no compose invocation. One watcher covers the union of the
services' watch paths; each batch is split per service and the services it touches reload
concurrently.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import difflib
import os
import shlex
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import yaml

from devbox import __version__, filters
from devbox import plan as planning
from devbox.errors import ComposeError, DevboxError
from devbox.supervisor import protocol
from devbox.targets import RELOAD_TIMEOUT, Target
from devbox.watch import Batch, Watcher

COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
COMPOSE_NUMBER = "com.docker.compose.container-number"
COMPOSE_ONEOFF = "com.docker.compose.oneoff"
LABEL_SERVICE = "devbox.service"
LABEL_SUPERVISOR = "devbox.supervisor"

STATE_DIR = ".devbox"
COMPOSE_ENV = "DEVBOX_COMPOSE"  # the compose command to use, e.g. "docker-compose"
READY_TIMEOUT = 60.0
# Where the injected supervisor's files go in the host copy: the archive paths without this.
_SUPERVISOR_PREFIX = planning.SUPERVISOR_ROOT.lstrip("/") + "/"
_INSTALL_HINT = ("install the Docker Compose plugin (Docker Desktop has it; Debian/Ubuntu: "
                 "`apt-get install docker-compose-plugin` from Docker's apt repository) or "
                 "docker-compose v1 (`apt-get install docker-compose`), or set DEVBOX_COMPOSE to its command")

Report = Callable[..., None]


def _noop(event, **fields):
    pass


# ---------------------------------------------------------------------------------------------
# The compose CLI
# ---------------------------------------------------------------------------------------------


def find_cli(environ: Optional[Mapping[str, str]] = None) -> Tuple[str, ...]:
    """The compose command: $DEVBOX_COMPOSE, else the `docker compose` plugin when the docker CLI
    has it, else `docker-compose` (v1)."""
    environ = os.environ if environ is None else environ
    path = environ.get("PATH", os.defpath)
    chosen = environ.get(COMPOSE_ENV, "").strip()
    if chosen:
        argv = tuple(shlex.split(chosen))
        if not shutil.which(argv[0], path=path):
            raise ComposeError(f"{COMPOSE_ENV}={chosen!r}: {argv[0]} is not installed or not on PATH", _INSTALL_HINT)
        return argv
    docker = shutil.which("docker", path=path)
    if docker and _answers([docker, "compose", "version"], environ):
        return (docker, "compose")
    legacy = shutil.which("docker-compose", path=path)
    if legacy:
        return (legacy,)
    raise ComposeError("no compose CLI: neither the `docker compose` plugin nor `docker-compose` is installed",
                       _INSTALL_HINT)


def _answers(argv: Sequence[str], environ: Mapping[str, str]) -> bool:
    try:
        return subprocess.run(list(argv), env=dict(environ), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


# Progress lines, not the error: compose's and the builder's.
_NOISE = ("WARNING:", "DEPRECATED:", "Building ", "Sending build context", "Step ",
          "--->", "Removing intermediate", "Successfully ", "Creating ", "Recreating ", "Starting ",
          "Stopping ", "Removing ", "Pulling ", "Network ", "Container ", "#")


def compose_message(output: str) -> str:
    """Compose's error as one line: progress dropped, the last few lines kept (v1 spreads one
    error over several lines)."""
    lines: List[str] = []
    noise = False
    for raw in output.splitlines():
        line = raw.strip()
        if line.startswith("ERROR:"):
            line = line[len("ERROR:"):].strip()
        if raw[:1].isspace() and noise:
            continue  # an indented continuation of a noise line
        noise = line.startswith(_NOISE)
        if line and not noise:
            lines.append(line)
    text = " ".join(lines[-4:]) or "no output"
    return text if len(text) <= 400 else "..." + text[-397:]


class ComposeCLI:
    """`docker compose` / `docker-compose` with the project's name and files."""

    def __init__(self, argv: Sequence[str], project: str, files: Sequence[Path],
                 environ: Optional[Mapping[str, str]] = None):
        self.argv = tuple(argv)
        self.project = project
        self.files = [Path(f) for f in files]
        self.environ = dict(os.environ if environ is None else environ)

    @property
    def name(self) -> str:
        """How a user would type it: `docker compose` or `docker-compose`."""
        return " ".join([Path(self.argv[0]).name, *self.argv[1:]])

    def command(self, *args: str, files: Optional[Sequence[Path]] = None) -> List[str]:
        argv = [*self.argv, "-p", self.project]
        for f in self.files if files is None else files:
            argv += ["-f", str(f)]
        return argv + list(args)

    def version(self) -> str:
        result = subprocess.run([*self.argv, "version", "--short"], env=self.environ, capture_output=True, text=True)
        short = result.stdout.strip()
        return f"{self.name} {short}" if result.returncode == 0 and short else self.name

    def config(self, file: Path, display: str) -> dict:
        """The user's file as compose reads it (interpolated, normalised); compose's own error,
        naming the file, when it is invalid."""
        result = subprocess.run(self.command("config", files=[file]), env=self.environ, capture_output=True,
                                text=True, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise ComposeError(f"{display}: {self.name} rejects it: {compose_message(result.stderr + result.stdout)}",
                               f"`{self.name} -f {display} config` shows the same; fix the file and retry")
        try:
            data = yaml.safe_load(result.stdout) or {}
        except yaml.YAMLError as exc:  # pragma: no cover - compose prints valid YAML
            raise ComposeError(f"{display}: cannot read `{self.name} config` output: {exc}") from None
        return data if isinstance(data, dict) else {}

    def run(self, *args: str, report: Report = _noop, what: str = "", files: Optional[Sequence[Path]] = None) -> None:
        """Run a compose command, reporting each output line as a "compose" event; a failure is
        a ComposeError carrying compose's own message."""
        process = subprocess.Popen(self.command(*args, files=files), env=self.environ, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
        tail: List[str] = []
        try:
            for line in process.stdout:
                line = line.rstrip()
                tail = (tail + [line])[-40:]
                report("compose", line=line)
            status = process.wait()
        except BaseException:
            process.kill()  # Ctrl-C: compose got the SIGINT too; do not leave it behind
            process.wait()
            raise
        if status != 0:
            raise ComposeError(f"`{self.name} {what or args[0]}` failed: {compose_message(chr(10).join(tail))}",
                               f"run `devbox -v {what or args[0]}` to see compose's full output")


# ---------------------------------------------------------------------------------------------
# The override file (pure)
# ---------------------------------------------------------------------------------------------


def _escape(value: str) -> str:
    """Compose interpolates $VAR in every file, the override too: keep devbox's values literal."""
    return value.replace("$", "$$")


def plan_override(config, user_services: Mapping[str, dict], supervisor_dir: Optional[Path],
                  supervisor_digest: str = "") -> dict:
    """The override file's content for `config`'s supervised services.

    `user_services` is the user's `services:` as `compose config` prints them (so the user's own
    environment wins over devbox's defaults). `supervisor_dir` is the host copy to bind-mount at
    SUPERVISOR_ROOT, or None when the files are copied into the containers (remote engine).
    """
    services = {}
    for service in config.compose.services:
        user_env = (user_services.get(service.name) or {}).get("environment") or {}
        if isinstance(user_env, list):  # compose v2 may print KEY=VALUE items
            user_env = dict(item.partition("=")[::2] for item in user_env)
        env = {key: value for key, value in _default_env(service) if key not in user_env}
        env.update(service.env_dict())
        command = planning.supervisor_command(app=service.app, command=service.command, port=service.port,
                                              listen=service.listen, grace=config.stop_grace,
                                              warm=config.reload.warm, overlap=config.reload.overlap,
                                              preload=config.preload)
        entry = {
            "command": [_escape(arg) for arg in command],
            "environment": {key: _escape(value) for key, value in env.items()},
            "labels": {
                planning.LABEL_PROJECT: config.name,
                LABEL_SERVICE: service.name,
                planning.LABEL_ROOT: _escape(str(config.root)),
                planning.LABEL_VERSION: __version__,
                # A changed supervisor changes the service's config, so compose recreates it.
                LABEL_SUPERVISOR: supervisor_digest,
            },
            "stop_signal": protocol.STOP_SIGNALS[0],
            "stop_grace_period": f"{int(config.stop_grace) + 2}s",
        }
        if supervisor_dir is not None:
            entry["volumes"] = [f"{_escape(str(supervisor_dir))}:{planning.SUPERVISOR_ROOT}:ro"]
        services[service.name] = entry
    return {"services": services}


def _default_env(service) -> Tuple[Tuple[str, str], ...]:
    """Environment a supervised service gets unless its compose file sets it.

    Bytecode stays out of the user's bind-mounted tree either way. A .pyc is trusted when the
    source's mtime (whole seconds) and size match, so two same-size saves in one second would
    serve the first one's code after a reload: the supervisor's own child guards against that,
    but a `command` imports with plain Python, so there no bytecode is written at all.
    """
    if service.app:
        return (("PYTHONUNBUFFERED", "1"), ("PYTHONPYCACHEPREFIX", "/tmp/devbox-pycache"))
    return (("PYTHONUNBUFFERED", "1"), ("PYTHONDONTWRITEBYTECODE", "1"))


def missing_services(config, user_services: Iterable[str], display: str) -> Optional[ComposeError]:
    """The error for the first service devbox.yml names that the compose file lacks, if any."""
    available = sorted(user_services)
    for service in config.compose.services:
        if service.name not in available:
            close = difflib.get_close_matches(service.name, available, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            return ComposeError(
                f"{config.path.name}: compose.services.{service.name}: {display} has no service '{service.name}'",
                f"{hint}its services: {', '.join(available) or 'none'}")
    return None


# ---------------------------------------------------------------------------------------------
# Per-service targets and the watcher's split
# ---------------------------------------------------------------------------------------------


def covers(paths: Sequence[str], rel: str) -> bool:
    """Whether project-relative `rel` is one of `paths` or below one ("." covers everything)."""
    return any(p == "." or rel == p or rel.startswith(p.rstrip("/") + "/") for p in paths)


def service_filter(config, service) -> filters.PathFilter:
    watch = service.watch
    return filters.PathFilter(config.root, ignore=watch.ignore, no_reload=watch.no_reload, rebuild=watch.rebuild)


class UnionFilter:
    """The watcher's filter over all services: a path matters if some service that watches it
    does not ignore it. Classification is per service, in `split`."""

    def __init__(self, config):
        self.config = config
        self.parts = [(service, service_filter(config, service)) for service in config.compose.services]

    def __call__(self, change, path) -> bool:
        rel = self.parts[0][1].relative(path) if self.parts else None
        return bool(rel) and any(covers(s.watch.paths, rel) and f.classify(rel) != filters.IGNORE
                                 for s, f in self.parts)

    def classify_batch(self, paths) -> str:
        return filters.strongest(action for _, (action, _, _) in self.split(paths, []).items())

    def reload_rules(self) -> None:
        for _, f in self.parts:
            f.reload_rules()

    def walk(self, top=None):
        seen = set()
        for service, f in self.parts:
            for rel in f.walk(top):
                if rel not in seen and covers(service.watch.paths, rel):
                    seen.add(rel)
                    yield rel

    def split(self, changed: Sequence[str], deleted: Sequence[str]) -> Dict[str, Tuple[str, List[str], List[str]]]:
        """service name -> (action, changed, deleted) for every service a change concerns."""
        result = {}
        for service, f in self.parts:
            mine_changed = [p for p in changed if covers(service.watch.paths, p)]
            mine_deleted = [p for p in deleted if covers(service.watch.paths, p)]
            action = f.classify_batch(mine_changed + mine_deleted)
            if action != filters.IGNORE:
                keep = [p for p in mine_changed if f.classify(p) != filters.IGNORE]
                gone = [p for p in mine_deleted if f.classify(p) != filters.IGNORE]
                result[service.name] = (action, keep, gone)
        return result


class ServiceTarget(Target):
    """One container of a supervised service, signalled through the Docker API."""

    def __init__(self, service: str, label: str, container, stream, report: Report):
        super().__init__(report)
        self.service = service
        self.label = label  # "web", or "web.2" for a second replica
        self.container = container
        self.stream = stream

    def send_reload(self) -> None:
        self.container.kill(signal=protocol.RELOAD_SIGNAL)


@dataclass
class Running:
    """What `up` leaves behind: a target per supervised container, every container's log stream."""

    targets: List[ServiceTarget]
    streams: Dict[str, object]  # label -> LogStream, for every container of the project
    urls: Dict[str, List[str]]  # service -> URLs of its published supervised port (or all ports)
    unsupervised: List[str]


class Dispatcher:
    """The watcher's on_batch: split per service, rebuild together, reload concurrently."""

    def __init__(self, session: "ComposeSession", running: Running, union: UnionFilter):
        self.session = session
        self.running = running
        self.union = union
        self.lock = threading.Lock()

    def act(self, batch: Batch) -> None:
        parts = self.union.split(batch.changed, batch.deleted)
        if not parts:
            return
        rebuild = sorted(name for name, (action, _, _) in parts.items() if action == filters.REBUILD)
        recreated: List[str] = []
        if rebuild:
            paths = sorted({p for name in rebuild for p in parts[name][1] + parts[name][2]})
            recreated = self.session.rebuild(self.running, rebuild, paths)
        jobs = []
        for target in self.running.targets:
            if target.service in parts and target.service not in recreated:
                action, changed, deleted = parts[target.service]
                # An image that came out the same keeps its container: a reload then does.
                action = filters.RELOAD if action == filters.REBUILD else action
                jobs.append((target, Batch(action=action, changed=changed, deleted=deleted, t0=batch.t0)))
        if len(jobs) <= 1:
            for job in jobs:
                self._act(*job)
            return
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            for future in [pool.submit(self._act, target, sub) for target, sub in jobs]:
                future.result()

    def _act(self, target: ServiceTarget, batch: Batch) -> None:
        """One service's action; its failure (say, its container was removed) is reported and
        the others and the watcher carry on."""
        import docker

        try:
            target.act(batch)
        except (DevboxError, docker.errors.DockerException) as exc:
            target.report("action_failed", paths=batch.paths, error=str(exc).splitlines()[0])


# ---------------------------------------------------------------------------------------------
# The session
# ---------------------------------------------------------------------------------------------


class ComposeSession:
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
            self._cli = ComposeCLI(argv, self.compose.project_name, [self.compose.file_path, self.override_path],
                                   self.environ)
        return self._cli

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
        user = cli.config(self.compose.file_path, self.display).get("services") or {}
        problem = missing_services(self.config, user, self.display)
        if problem is not None:
            raise problem
        self.write_override(user)
        return user

    def write_override(self, user_services: Mapping[str, dict]) -> Path:
        from devbox import session as single

        remote = self.engine.remote
        supervisor_dir = None if remote else self._write_supervisor_copy()
        content = plan_override(self.config, user_services, supervisor_dir, single.supervisor_digest())
        header = (f"# Written by devbox for {self.config.path.name}; regenerated on every `devbox up`.\n"
                  f"# Used as: {self.cli.name} -p {self.compose.project_name} -f {self.display} -f {self.override_path}\n")
        _write_if_changed(self.override_path, header + yaml.safe_dump(content, sort_keys=False, width=1000))
        return self.override_path

    def _write_supervisor_copy(self) -> Path:
        """The supervisor's files on the host, laid out as under SUPERVISOR_ROOT."""
        from devbox import session as single

        target = self.state_dir / "supervisor"
        wanted = set()
        for name, data, mode in single.supervisor_files():
            rel = name[len(_SUPERVISOR_PREFIX):] if name.startswith(_SUPERVISOR_PREFIX) else name
            path = target / rel
            wanted.add(path)
            _write_if_changed(path, data, mode)
        for path in target.rglob("*"):
            if path.is_file() and path not in wanted:
                path.unlink()
        return target

    # -- finding containers ------------------------------------------------------------------
    def containers(self, all: bool = True) -> List:
        """The project's service containers (not `compose run` one-offs), by compose's labels."""
        found = self.client.containers.list(
            all=all, filters={"label": f"{COMPOSE_PROJECT}={self.compose.project_name}"})
        found = [c for c in found if c.labels.get(COMPOSE_ONEOFF, "False") != "True"]
        return sorted(found, key=lambda c: (c.labels.get(COMPOSE_SERVICE, ""), _number(c)))

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
                result[name if i == 0 else f"{name}.{_number(container)}"] = container
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
        self.report("compose_up", cli=self.cli.name, project=self.compose.project_name, file=self.display,
                    services=sorted(user))
        try:
            self._compose_up([], build=build)
            return self._attach(before)
        except KeyboardInterrupt:
            self.stop()  # nothing left running after Ctrl-C
            raise

    def _compose_up(self, services: Sequence[str], build: bool) -> None:
        extra = ["--build"] if build else []
        if services:
            extra += ["--no-deps", *services]
        if not self.engine.remote:
            self.cli.run("up", "-d", *extra, report=self.report, what="up")
            return
        # A remote engine cannot see a host directory: create, copy the supervisor in, start.
        from devbox import session as single

        self.cli.run("up", "--no-start", *extra, report=self.report, what="up")
        archive = single.supervisor_archive()
        for name, containers in self.by_service().items():
            if self.supervised(name) and (not services or name in services):
                for container in containers:
                    container.put_archive("/", archive)
        self.cli.run("up", "-d", *[a for a in extra if a != "--build"], report=self.report, what="up")

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
            helper = self._helper(label)
            stream = helper.follow(container, since=_since(started) if fresh else None, tail="all" if fresh else 0)
            running.streams[label] = stream
            if not self.supervised(service):
                if service not in running.unsupervised:
                    running.unsupervised.append(service)
                continue
            target = ServiceTarget(service, label, container, stream, self._reporter(label))
            running.targets = [t for t in running.targets if t.label != label] + [target]
            port = self.compose.service(service).port
            running.urls[service] = _published(container, port) or running.urls.get(service, [])
            if fresh:
                waits.append((helper, container, stream))
        for helper, container, stream in waits:
            helper.wait_ready(container, stream, after=0, timeout=READY_TIMEOUT)
        order = [s.name for s in self.compose.services]
        running.urls = {name: running.urls[name] for name in order if name in running.urls}
        return running

    def _helper(self, label: str):
        """A single-container Session used for its log following and readiness wait."""
        from devbox.session import Session

        return Session(self.config, self.engine, report=self._reporter(label))

    def _reporter(self, label: str) -> Report:
        report = self.report
        return lambda event, **fields: report(event, service=label, **fields)

    def rebuild(self, running: Running, services: Sequence[str], paths: Sequence[str]) -> List[str]:
        """Rebuild the images of `services`; compose recreates the containers whose image (or
        configuration) changed, the others keep running. Returns the services recreated."""
        for service in services:
            self.report("rebuilding", paths=list(paths), service=service)
        started = time.monotonic()
        before = {c.id: c.attrs["State"].get("StartedAt") for c in self.containers()}
        self.write_override(self.cli.config(self.compose.file_path, self.display).get("services") or {})
        self._compose_up(services, build=True)
        self._attach(before, only=services, into=running)
        recreated = sorted({c.labels.get(COMPOSE_SERVICE) for c in self.containers(all=False)
                            if c.labels.get(COMPOSE_SERVICE) in services
                            and before.get(c.id) != c.attrs["State"].get("StartedAt")})
        for service in recreated:
            self.report("rebuilt", seconds=time.monotonic() - started, service=service)
        return recreated

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
                         files=[self.compose.file_path])
        except ComposeError as exc:
            self.report("compose_unusable", error=exc.message)
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
                label = name if i == 0 else f"{name}.{_number(container)}"
                helper = self._helper(label)
                jobs.append((label, helper, container, helper.follow(container, since=None, tail=0)))
        sent = time.time()
        for _, _, container, _ in jobs:
            container.kill(signal=protocol.RELOAD_SIGNAL)
        result = {}
        for label, helper, container, stream in jobs:
            event = helper.wait_ready(container, stream, after=0, timeout=timeout)
            result[label] = (event[2] - sent) * 1000.0
        return result

    def status(self) -> List[dict]:
        """One row per container, in the shape of Session.status()."""
        from devbox.session import Session, _urls

        helper = Session(self.config, self.engine)
        rows = []
        for label, container in self.labels_of(self.by_service()).items():
            service = container.labels.get(COMPOSE_SERVICE, label)
            row = dict(name=label, container=container.name, state=container.status,
                       image=container.attrs["Config"]["Image"],
                       started_at=container.attrs["State"].get("StartedAt", ""),
                       urls=_urls(container), supervisor={}, supervised=self.supervised(service))
            if container.status == "running" and row["supervised"]:
                row["supervisor"] = helper.supervisor_status(container)
            rows.append(row)
        return rows

    def logs(self, services: Sequence[str], follow: bool, tail: Optional[int],
             on_line: Callable[[str, str], None]) -> None:
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
                on_line(label, text)
            return
        threads = []
        for label, container in chosen.items():
            def pump(label=label, container=container):
                pending = b""
                for chunk in container.logs(stream=True, follow=True, tail=tail_arg):
                    pending += chunk
                    *complete, pending = pending.split(b"\n")
                    for raw in complete:
                        on_line(label, raw.decode("utf-8", "replace"))
                if pending:
                    on_line(label, pending.decode("utf-8", "replace"))
            thread = threading.Thread(target=pump, daemon=True, name=f"logs-{label}")
            thread.start()
            threads.append(thread)
        for thread in threads:
            while thread.is_alive():
                thread.join(0.5)  # a timed join lets Ctrl-C through

    def exec_argv(self, service: str, command: Sequence[str], tty: bool) -> List[str]:
        """The compose command that runs `command` in `service`'s container."""
        self.running(service)
        files = [self.compose.file_path] + ([self.override_path] if self.override_path.is_file() else [])
        return self.cli.command("exec", *([] if tty else ["-T"]), service, *(command or ["sh"]), files=files)

    def watcher(self, running: Running, on_unchanged: Callable[[List[str]], None]) -> Watcher:
        """One watcher over every supervised service's paths, split per service on each batch."""
        union = UnionFilter(self.config)
        paths = sorted({p for s in self.compose.services for p in s.watch.paths})
        debounce = self.config.watch.debounce_ms
        return Watcher(self.config.root, paths, union, debounce, on_batch=Dispatcher(self, running, union).act,
                       on_unchanged=on_unchanged)


def _number(container) -> int:
    try:
        return int(container.labels.get(COMPOSE_NUMBER, "1"))
    except ValueError:
        return 1


def _since(started_at: Optional[str]) -> Optional[float]:
    """Docker's StartedAt (RFC 3339, nanoseconds) as epoch seconds, a little early."""
    if not started_at:
        return None
    head = started_at.rstrip("Z").split(".")[0]
    try:
        stamp = dt.datetime.fromisoformat(head).replace(tzinfo=dt.timezone.utc)
    except ValueError:
        return None
    return max(1.0, stamp.timestamp() - 1.0)


def _published(container, port: int) -> List[str]:
    """URLs where the host reaches `port` of `container`."""
    bindings = (container.attrs["HostConfig"].get("PortBindings") or {}).get(f"{port}/tcp") or []
    urls = []
    for binding in bindings:
        ip = binding.get("HostIp") or "0.0.0.0"
        host = "127.0.0.1" if ip in ("0.0.0.0", "") else (f"[{ip}]" if ":" in ip else ip)
        if binding.get("HostPort"):
            urls.append(f"http://{host}:{binding['HostPort']}")
    return urls


def _write_if_changed(path: Path, data, mode: int = 0o644) -> None:
    """Write `data` (str or bytes) unless the file already holds it; the state dir is made and
    ignored by git on first use."""
    blob = data.encode() if isinstance(data, str) else data
    state = path.parent
    while state.name != STATE_DIR and state != state.parent:
        state = state.parent
    if state.name == STATE_DIR and not (state / ".gitignore").exists():
        state.mkdir(parents=True, exist_ok=True)
        (state / ".gitignore").write_text("# devbox's generated files; never committed\n*\n")
    try:
        if path.read_bytes() == blob:
            return
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(blob)
    os.chmod(tmp, mode)
    os.replace(tmp, path)
