"""What `devbox status` knows about one container: a small dataclass, built the same way for a
single container and for each compose service. Rendering is cli.py's."""

from __future__ import annotations

import errno
import json
import os
import stat
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Dict, List, Optional, Tuple

from devbox import docker_time
from devbox.supervisor import protocol
from devbox.urls import http_url


@dataclass
class ContainerStatus:
    name: str  # the project, or a compose service's label ("web", "web.2")
    container: str
    state: str  # docker's: running, exited, created...
    image: str
    started_at: str = ""
    urls: List[str] = field(default_factory=list)
    supervisor: dict = field(default_factory=dict)  # the supervisor's status file, {} if unread
    supervised: Optional[bool] = None  # compose: whether devbox supervises the service
    url_ports: Dict[str, int] = field(default_factory=dict)  # url -> the container port it reaches

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def uptime_s(self) -> Optional[float]:
        return docker_time.seconds_since(self.started_at) if self.running else None

    @property
    def reloads(self) -> int:
        return int(self.supervisor.get("reloads", 0) or 0)

    @property
    def reload_p50_ms(self) -> Optional[float]:
        latencies = sorted(self.supervisor.get("last_reload_ms") or [])
        return latencies[len(latencies) // 2] if latencies else None

    @property
    def crashed(self) -> bool:
        return self.supervisor.get("state") == protocol.STATE_CRASHED

    def to_dict(self) -> dict:
        """Its fields and what they imply (running, uptime_s, reloads, reload_p50_ms, crashed):
        what `devbox status --json` prints and the agent sends."""
        implied = (name for name, value in vars(ContainerStatus).items() if isinstance(value, property))
        return {**asdict(self), **{name: getattr(self, name) for name in implied}}

    @classmethod
    def from_dict(cls, data: dict) -> "ContainerStatus":
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


@dataclass
class AgentStatus:
    """The project's agent, as it describes itself (devbox/agent/runner.py)."""

    pid: int
    started_at: float  # epoch seconds
    detached: bool
    socket: str
    log: Optional[str] = None  # a detached agent's output
    serving: bool = False  # the project has served since the agent started it
    reloads: int = 0  # reloads the agent's watcher made
    reload_p50_ms: Optional[float] = None  # their save-to-serving time
    failure: Optional[str] = None  # what keeps what is on disk from serving, if anything
    engine: Optional[str] = None
    live: Dict[str, str] = field(default_factory=dict)  # label ("" or a compose service) -> live-reload URL
    dashboard: Optional[str] = None  # its dashboard's URL, with the token that logs a browser in

    @property
    def uptime_s(self) -> float:
        return max(0.0, time.time() - self.started_at)

    def to_dict(self) -> dict:
        return {**asdict(self), "uptime_s": self.uptime_s}

    @classmethod
    def from_dict(cls, data: dict) -> "AgentStatus":
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


def published_urls(container, port: Optional[int] = None) -> List[str]:
    """URLs where this machine reaches `container`'s published ports (only `port`'s, if given)."""
    return [url for found, url in published(container) if port is None or found == port]


def published(container) -> List[Tuple[int, str]]:
    """(container port, URL) of each published TCP port (where devbox's live-reload proxy serves
    it, when one does: the container's own binding is an ephemeral port behind it)."""
    from devbox.live import read_label

    fronted = read_label((container.attrs.get("Config") or {}).get("Labels") or {})
    if fronted:
        return fronted
    bindings = container.attrs["HostConfig"].get("PortBindings") or {}
    return [(int(key.partition("/")[0]), http_url(b.get("HostIp") or "", b["HostPort"]))
            for key, group in bindings.items() if key.endswith("/tcp") for b in group or [] if b.get("HostPort")]


def of_container(container, name: str, supervisor: dict, supervised: Optional[bool] = None) -> ContainerStatus:
    return ContainerStatus(name=name, container=container.name, state=container.status,
                           image=container.attrs["Config"]["Image"],
                           started_at=container.attrs["State"].get("StartedAt", ""),
                           urls=published_urls(container), supervisor=supervisor, supervised=supervised,
                           url_ports={url: port for port, url in published(container)})


def read_supervisor_status(container, local: bool = False) -> dict:
    """The supervisor's status file in a running container, or {} when it cannot be read. On an
    engine on this machine (`local`), through /proc/PID/root of its PID 1 (devbox.local_pid),
    a file read; else, or when that cannot be read, by a `docker exec cat` (the agent reads the
    rows once it serves, while the first requests come)."""
    if local:
        found = _read_through_proc(container)
        if found is not None:
            return found
    try:
        result = container.exec_run(["cat", protocol.DEFAULT_STATUS_FILE], demux=False)
        return json.loads(result.output) if result.exit_code == 0 else {}
    except Exception:  # noqa: BLE001 - status is best effort
        return {}


def _read_through_proc(container) -> Optional[dict]:
    """The status file read from this machine, {} when the supervisor has written none yet;
    None when it cannot be read from here (not this machine's process, no permission)."""
    from devbox import local_pid

    pid = local_pid.host_pid(container)
    if not pid or not local_pid.runs_container(pid, container.id):
        return None
    try:
        return json.loads(read_in_root(f"/proc/{pid}/root", protocol.DEFAULT_STATUS_FILE))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):  # no permission (another user's), a link, or caught mid-write
        return None


def read_in_root(root: str, path: str) -> bytes:
    """The bytes of absolute `path` under `root`, no symlink on the way followed: the container
    may make any of them one, and an absolute link met under /proc/PID/root leads to this
    machine's own file, not the container's (OSError ELOOP/ENOTDIR then)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        parts = [part for part in path.split("/") if part]
        for part in parts[:-1]:
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = inner
        inner = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
        with os.fdopen(inner, "rb") as f:
            if not stat.S_ISREG(os.fstat(inner).st_mode):
                raise OSError(errno.EINVAL, "not a regular file", path)
            return f.read()
    finally:
        os.close(fd)
