"""Where a project's agent lives: one directory per project, only its user can enter it.

    $XDG_RUNTIME_DIR/devbox/agents/<project-id>/   (else ~/.cache/devbox/agents/<project-id>/)
        agent.lock   flock'ed by the running agent for its whole life: one agent per project
        agent.sock   its control socket (mode 0600)
        agent.json   its pid, start time, log path, devbox.yml (written once it listens)
        agent.log    a detached agent's output: the same lines `devbox up` prints

The project id is its directory's name and a hash of its devbox.yml's absolute path: two
checkouts of one project get two agents, the name keeps the directory recognisable, and a
client finds the agent from the path alone, without reading devbox.yml.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

from devbox.errors import DevboxError

MAX_SOCKET_PATH = 107  # sun_path is 108 bytes on Linux, with its NUL
NAME_CHARS = 24  # of the project name in its id


def base_dir(environ: Optional[Mapping[str, str]] = None) -> Path:
    """$XDG_RUNTIME_DIR/devbox/agents when it is set and usable, else ~/.cache/devbox/agents."""
    environ = os.environ if environ is None else environ
    runtime = environ.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isdir(runtime) and os.access(runtime, os.W_OK | os.X_OK):
        return Path(runtime) / "devbox" / "agents"
    from devbox.paths import user_cache_dir

    return user_cache_dir(environ) / "agents"


def project_id(config_path: Path) -> str:
    path = Path(config_path).resolve()
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    return f"{path.parent.name[:NAME_CHARS]}-{digest}"


@dataclass(frozen=True)
class AgentHome:
    dir: Path

    @classmethod
    def for_path(cls, config_path: Path, environ: Optional[Mapping[str, str]] = None) -> "AgentHome":
        """The home of the agent of the project whose devbox.yml is `config_path`."""
        return cls(base_dir(environ) / project_id(config_path))

    @property
    def lock(self) -> Path:
        return self.dir / "agent.lock"

    @property
    def socket(self) -> Path:
        return self.dir / "agent.sock"

    @property
    def info(self) -> Path:
        return self.dir / "agent.json"

    @property
    def log(self) -> Path:
        return self.dir / "agent.log"

    def ensure(self) -> "AgentHome":
        """Make the directory (0700, and its devbox parents), and refuse one that another user
        owns or others may enter: the socket inside it is the agent's only access control."""
        # The cache or runtime dir itself may not exist yet (a fresh account has no ~/.cache).
        self.dir.parent.parent.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        for path in (self.dir.parent.parent, self.dir.parent, self.dir):
            try:
                path.mkdir(mode=0o700)
            except FileExistsError:
                pass
        os.chmod(self.dir, 0o700)
        check_private(self.dir)
        if len(str(self.socket)) > MAX_SOCKET_PATH:
            raise DevboxError(f"the agent's socket path is too long for a unix socket: {self.socket}",
                              "set XDG_RUNTIME_DIR to a shorter directory")
        return self

    def read_info(self) -> dict:
        """What the running (or last) agent wrote about itself; {} when there is nothing."""
        try:
            return json.loads(self.info.read_text())
        except (OSError, ValueError):
            return {}

    def write_info(self, info: dict) -> None:
        tmp = self.info.with_name(self.info.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(info, out)
        os.replace(tmp, self.info)


def check_private(path: Path) -> None:
    """A DevboxError unless `path` belongs to this user and no one else may use it."""
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise DevboxError(f"{path} is not private to this user (mode {stat.S_IMODE(info.st_mode):o}, "
                          f"owner uid {info.st_uid})", f"remove it, or `chmod 700 {path}` if it is yours")
