"""The model: what a devbox.yml means, as frozen dataclasses, and the defaults they start from.

Everything in a :class:`Config` is immutable and hashable; :meth:`Config.to_dict` is the stable,
JSON-able form that the container's config-hash label is computed from.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from devbox.config_file import CONFIG_NAME
from devbox.supervisor import protocol
from devbox.urls import http_url

DEFAULT_IMAGE = "python:3.12-slim"
DEFAULT_DOCKERFILE = "docker/Dockerfile"
DEFAULT_WORKDIR = "/app"
DEFAULT_PORT = 8000
DEFAULT_REBUILD = (
    "docker/Dockerfile",
    "Dockerfile",
    "requirements*.txt",
    "pyproject.toml",
    "poetry.lock",
    "uv.lock",
    "Pipfile.lock",
)
# Not templates/**: Jinja (outside Flask's debug mode) and Django's cached loader (on by default,
# DEBUG included) keep serving the old template until the app restarts, and a warm reload costs
# ~20 ms; static files are read afresh on every request.
DEFAULT_NO_RELOAD = ("static/**",)
DEFAULT_DEBOUNCE_MS = 50
DEFAULT_STOP_GRACE = 5.0
# What `docker compose` looks for when no file is named, in its order of preference.
COMPOSE_FILE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")

LISTEN_MODES = protocol.LISTEN_MODES
# The lifecycle moments of the Dev Containers spec, in the order they happen: `initialize` on the
# host before each start; `on_create`, `update_content`, `post_create` once, when the container
# is created; `post_start` at every start; `post_attach` each time a user attaches.
HOOK_MOMENTS = ("initialize", "on_create", "update_content", "post_create", "post_start", "post_attach")
DEFAULT_WAIT_FOR = "update_content"
MOUNT_TYPES = ("bind", "volume", "tmpfs")
SYNC_MODES = ("auto", "bind", "copy")


@dataclass(frozen=True)
class PortMapping:
    """One published port: host_ip:host_port on the host -> container_port in the container."""

    host_ip: str
    host_port: int
    container_port: int

    def __str__(self) -> str:
        host = f"[{self.host_ip}]" if ":" in self.host_ip else self.host_ip
        return f"{host}:{self.host_port}:{self.container_port}"

    @property
    def url(self) -> str:
        """Where a browser on the host reaches the app (a wildcard address becomes loopback)."""
        return http_url(self.host_ip, self.host_port)


@dataclass(frozen=True)
class Build:
    """How to build the image. `context` and `dockerfile` are kept as written; the *_path fields
    are resolved (context against the project root, dockerfile against the context, as docker
    does)."""

    context: str
    dockerfile: str
    args: tuple[tuple[str, str], ...]
    tag: str
    context_path: Path
    dockerfile_path: Path
    target: Optional[str] = None  # the Dockerfile stage to build; None: the last

    def args_dict(self) -> dict[str, str]:
        return dict(self.args)


@dataclass(frozen=True)
class Hook:
    """One lifecycle command. The hooks of one moment run in parallel (the spec's object form
    names each); the next moment starts when all of them have finished. `initialize` runs on the
    host, the others in the container as `Config.user`, in `Config.workdir`."""

    when: str  # one of HOOK_MOMENTS
    name: str  # the object form's key; "" for the string and list forms
    argv: Optional[tuple[str, ...]] = None  # the list form: run as is, no shell
    shell: Optional[str] = None  # the string form: run by /bin/sh -c

    @property
    def command(self) -> tuple[str, ...]:
        """The argv to run (a string form goes through /bin/sh -c)."""
        return self.argv if self.argv is not None else ("/bin/sh", "-c", self.shell or "")

    @property
    def label(self) -> str:
        """What to prefix its output with: its name, else its moment."""
        return self.name or self.when

    @property
    def on_host(self) -> bool:
        return self.when == "initialize"


@dataclass(frozen=True)
class Hooks:
    """The lifecycle commands, by moment (HOOK_MOMENTS), and the moment the app waits for."""

    initialize: tuple[Hook, ...] = ()
    on_create: tuple[Hook, ...] = ()
    update_content: tuple[Hook, ...] = ()
    post_create: tuple[Hook, ...] = ()
    post_start: tuple[Hook, ...] = ()
    post_attach: tuple[Hook, ...] = ()
    wait_for: str = DEFAULT_WAIT_FOR  # the app starts once this moment's hooks have finished

    def at(self, when: str) -> tuple[Hook, ...]:
        """The hooks of one moment (run them in parallel)."""
        return getattr(self, when)

    def all(self) -> tuple[Hook, ...]:
        return tuple(hook for moment in HOOK_MOMENTS for hook in self.at(moment))


@dataclass(frozen=True)
class Mount:
    """A mount beside the project's own: `source` is an absolute host path for a bind, a volume
    name ("" for an anonymous volume) or "" for a tmpfs; `target` is an absolute container path."""

    type: str  # one of MOUNT_TYPES
    source: str
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class Forward:
    """A compose service's port published on the host (devcontainer.json `forwardPorts`)."""

    service: str
    port: int  # in the service's container
    host_ip: str = "127.0.0.1"
    host_port: int = 0  # 0: the same as `port`

    @property
    def published(self) -> int:
        return self.host_port or self.port


@dataclass(frozen=True)
class ContainerOptions:
    """Container settings beyond devbox's own keys (devcontainer.json `runArgs`, `init`,
    `privileged`, `capAdd`, `securityOpt`); everything unset by default."""

    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    privileged: bool = False
    init: bool = False
    shm_size: Optional[str] = None
    extra_hosts: tuple[tuple[str, str], ...] = ()
    devices: tuple[str, ...] = ()
    network: Optional[str] = None
    hostname: Optional[str] = None
    labels: tuple[tuple[str, str], ...] = ()

    def create_kwargs(self) -> dict[str, Any]:
        """The set options as keyword arguments of docker's `containers.create`."""
        kwargs: dict[str, Any] = {
            "cap_add": list(self.cap_add), "cap_drop": list(self.cap_drop),
            "security_opt": list(self.security_opt), "privileged": self.privileged, "init": self.init,
            "shm_size": self.shm_size, "extra_hosts": dict(self.extra_hosts), "devices": list(self.devices),
            "network_mode": self.network, "hostname": self.hostname, "labels": dict(self.labels),
        }  # fmt: skip
        return {key: value for key, value in kwargs.items() if value}


@dataclass(frozen=True)
class Watch:
    """What the host watcher looks at. `paths` are relative to the project root (posix, "."
    for the root itself); the pattern lists use .gitignore syntax (see devbox.filters)."""

    paths: tuple[str, ...] = (".",)
    ignore: tuple[str, ...] = ()
    rebuild: tuple[str, ...] = DEFAULT_REBUILD
    no_reload: tuple[str, ...] = DEFAULT_NO_RELOAD
    debounce_ms: int = DEFAULT_DEBOUNCE_MS


@dataclass(frozen=True)
class Reload:
    warm: bool = True
    overlap: bool = True


@dataclass(frozen=True)
class Dashboard:
    port: int = 0  # the agent's dashboard on 127.0.0.1; 0: a free port


@dataclass(frozen=True)
class Service:
    """A compose service that devbox supervises: the supervisor runs `app` or `command` in it
    and binds `port` (a container port)."""

    name: str
    app: Optional[str]
    command: Optional[tuple[str, ...]]
    listen: str
    port: int
    env: tuple[tuple[str, str], ...]
    watch: Watch

    def env_dict(self) -> dict[str, str]:
        return dict(self.env)


@dataclass(frozen=True)
class Compose:
    """A compose project. `file` is as written (relative to the project root); `file_path` is
    resolved. Its existence is checked when the project is started, not here."""

    file: str
    file_path: Path
    project_name: str
    services: tuple[Service, ...]
    overrides: tuple[Path, ...] = ()  # more files, merged in order (`docker compose -f A -f B`)
    run_services: Optional[tuple[str, ...]] = None  # the services to start; None: all of them

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)


@dataclass(frozen=True)
class Config:
    path: Path  # the devbox.yml, absolute
    root: Path  # its directory, symlinks resolved: what is mounted at `workdir`
    name: str
    image: str  # the image the container runs: the build tag when `build` is set
    build: Optional[Build]
    workdir: str
    app: Optional[str]
    command: Optional[tuple[str, ...]]
    listen: str
    ports: tuple[PortMapping, ...]
    env: tuple[tuple[str, str], ...]  # in file order
    watch: Watch
    sync: str
    reload: Reload
    preload: tuple[str, ...]
    stop_grace: float
    user: Optional[str]
    compose: Optional[Compose]
    hooks: Hooks = Hooks()
    mounts: tuple[Mount, ...] = ()
    options: ContainerOptions = ContainerOptions()
    dashboard: Dashboard = Dashboard()
    # devcontainer.json only:
    workspace_mount: Optional[Mount] = None  # replaces the project's own mount; None: root at workdir
    update_remote_user_uid: bool = False  # give `user`'s account the host uid:gid (Linux, bind mounts)
    forwards: tuple[Forward, ...] = ()  # compose ports to publish on the host
    port_labels: tuple[tuple[str, str], ...] = ()  # ("8000" or "3000-3005", label); not in to_dict()
    source: str = CONFIG_NAME  # the kind of file read: devbox.yml or devcontainer.json; not in to_dict()
    warnings: tuple[str, ...] = ()  # e.g. unset variables; not part of to_dict()
    live_reload: bool = True  # pages open in a browser reload when the new code serves (devbox/live/)

    @property
    def app_port(self) -> int:
        """The container port the supervisor binds: the first mapping's."""
        return self.ports[0].container_port

    @property
    def image_tag(self) -> str:
        return self.build.tag if self.build else self.image

    def env_dict(self) -> dict[str, str]:
        return dict(self.env)

    def port_label(self, port: int) -> Optional[str]:
        """The label devcontainer.json's `portsAttributes` gives a container port, if any."""
        for spec, label in self.port_labels:
            low, _, high = spec.partition("-")
            if low.isdigit() and int(low) <= port <= int(high if high.isdigit() else low):
                return label
        return None

    def app_label(self, service: Optional[str] = None) -> Optional[str]:
        """The port label of the app's port (of a compose service's, by name)."""
        return self.port_label(self.compose.service(service).port if service else self.app_port)

    def watch_dirs(self) -> tuple[Path, ...]:
        """The absolute directories (or files) to watch."""
        return tuple((self.root / p).resolve() for p in self.watch.paths)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (paths and tuples become strings and lists). Two loads of the same
        file in the same environment give equal dicts; warnings are left out."""
        data = _jsonable(self)
        for name in ("warnings", "source", "port_labels"):  # what is said, not what runs
            del data[name]
        return data


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
