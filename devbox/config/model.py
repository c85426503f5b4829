"""The model: what a devbox.yml means, as frozen dataclasses, and the defaults they start from.

Everything in a :class:`Config` is immutable and hashable; :meth:`Config.to_dict` is the stable,
JSON-able form that the container's config-hash label is computed from.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from devbox.config_file import CONFIG_NAME  # noqa: F401 - re-exported
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
DEFAULT_NO_RELOAD = ("static/**", "templates/**")
DEFAULT_DEBOUNCE_MS = 50
DEFAULT_STOP_GRACE = 5.0
# What `docker compose` looks for when no file is named, in its order of preference.
COMPOSE_FILE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")

LISTEN_MODES = ("fd", "self")
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

    def args_dict(self) -> dict[str, str]:
        return dict(self.args)


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
    warnings: tuple[str, ...] = ()  # e.g. unset variables; not part of to_dict()

    @property
    def app_port(self) -> int:
        """The container port the supervisor binds: the first mapping's."""
        return self.ports[0].container_port

    @property
    def image_tag(self) -> str:
        return self.build.tag if self.build else self.image

    def env_dict(self) -> dict[str, str]:
        return dict(self.env)

    def watch_dirs(self) -> tuple[Path, ...]:
        """The absolute directories (or files) to watch."""
        return tuple((self.root / p).resolve() for p in self.watch.paths)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (paths and tuples become strings and lists). Two loads of the same
        file in the same environment give equal dicts; warnings are left out."""
        data = _jsonable(self)
        del data["warnings"]
        return data


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value
