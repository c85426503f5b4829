"""Every contender: how it starts, what the harness does after an edit, how it stops.

One small class each on a shared base. A contender serves the project's app on a port and is
measured from outside only (HTTP, /proc); nothing here knows about metrics.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from benchmarks import containers, proctree
from benchmarks.project import Project

PEER, DEVBOX, FLOOR = "peer", "devbox", "floor"
STOP_TIMEOUT = 15.0
# Variables that would make a reloader believe it is already the child of another one.
RELOADER_MARKERS = ("BOTTLE_CHILD", "BOTTLE_LOCKFILE", "LOCK_FILE", "WERKZEUG_RUN_MAIN", "WERKZEUG_SERVER_FD",
                    "LISTEN_FDS", "LISTEN_PID", "DEVBOX_LISTEN_FD")


@dataclass
class Tools:
    """Where the contenders' programs are and what they share."""

    python: str  # an interpreter with the peers installed (benchmarks/.venv)
    bin_dir: str  # its scripts: uvicorn, gunicorn, watchfiles, devbox
    run_id: str  # unique per run: in every container and project name
    site: Path  # the heavy module's directory, outside every watched tree
    image: str = ""  # the image for the container contenders: the base plus the heavy module
    base_image: str = ""  # what that image is built from (DEVBOX_IMAGE)

    def program(self, name: str) -> str:
        return os.path.join(self.bin_dir, name)

    def env(self) -> Dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in RELOADER_MARKERS}
        env["PYTHONPATH"] = str(self.site)
        return env


class Contender:
    """Base: a command started in its own process group; stopped like Ctrl-C stops it."""

    name = ""  # for --only
    label = ""  # the row in the table
    kind = PEER
    how = ""  # the mechanism, one line, for the report
    needs_docker = False
    stop_signal = signal.SIGINT

    def __init__(self, tools: Tools):
        self.tools = tools
        self.process: Optional[subprocess.Popen] = None
        self.project: Optional[Project] = None
        self.port = 0
        self.log_path = ""

    # -- what a subclass says ------------------------------------------------------------------
    def command(self) -> List[str]:
        raise NotImplementedError

    def prepare(self) -> None:
        """Write whatever the contender needs in the project before it starts."""

    def after_edit(self) -> None:
        """What the harness does right after each save (nothing: the contender watches)."""

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, project: Project, port: int, log_path: str) -> None:
        self.project, self.port, self.log_path = project, port, log_path
        self.prepare()
        self.process = proctree.spawn(self.command(), cwd=str(project.root), env=self.tools.env(), log_path=log_path)

    def roots(self) -> List[int]:
        """The processes whose trees make up this contender's CPU cost."""
        return [self.process.pid] if self.process is not None else []

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> float:
        """Seconds from the stop signal until every process of the contender is gone (capped)."""
        if self.process is None:
            return 0.0
        started = time.monotonic()
        proctree.signal_group(self.process.pid, self.stop_signal)
        gone = proctree.wait_group_gone(self.process.pid, self.process, STOP_TIMEOUT)
        took = time.monotonic() - started
        return took if gone else float("inf")

    def cleanup(self) -> None:
        """End anything left, whatever state the contender is in."""
        if self.process is not None:
            proctree.end_group(self.process.pid, self.process)
            self.process = None


class BottleReloader(Contender):
    name, label = "bottle", "bottle.run(reloader=True)"
    how = "child polls module mtimes every 1 s, exits 3; parent respawns it and the child binds the port again"

    def command(self):
        return [self.tools.python, "serve_bottle.py", str(self.port)]


class UvicornReload(Contender):
    name, label = "uvicorn", "uvicorn --reload"
    how = ("watchfiles in the parent (reload delay 0.25 s), SIGTERM + new worker process; the parent holds the "
           "socket; the same WSGI app through uvicorn's WSGI middleware (--interface wsgi)")

    def command(self):
        return [self.tools.program("uvicorn"), "app:app", "--interface", "wsgi", "--reload",
                "--host", "127.0.0.1", "--port", str(self.port)]


class WatchfilesCli(Contender):
    name, label = "watchfiles", "watchfiles CLI + wsgiref"
    how = "`watchfiles 'python serve_wsgiref.py PORT' .`: SIGINT to the server and start it again"

    def command(self):
        return [self.tools.program("watchfiles"), f"{self.tools.python} serve_wsgiref.py {self.port}", "."]


class WerkzeugStat(Contender):
    name, label = "werkzeug", "werkzeug run_simple (stat)"
    how = "run_simple(use_reloader=True, reloader_type='stat'): child polls mtimes every 1 s, exits 3; parent holds the socket"

    def command(self):
        return [self.tools.python, "serve_werkzeug.py", str(self.port)]


class GunicornReload(Contender):
    name, label = "gunicorn", "gunicorn --reload"
    how = "worker polls module mtimes every 1 s (no inotify module installed) and exits; the arbiter holds the socket and forks a new worker"

    def command(self):
        return [self.tools.program("gunicorn"), "--reload", "--bind", f"127.0.0.1:{self.port}", "app:app"]


class KillRespawn(Contender):
    """The floor: no watcher at all; the harness kills and starts a plain server on each save."""

    name, label, kind = "respawn", "kill and respawn (floor)", FLOOR
    how = "the harness SIGKILLs a wsgiref server right after the save and starts it again: no watcher, no detection delay"

    def command(self):
        return [self.tools.python, "serve_wsgiref.py", str(self.port)]

    def after_edit(self):
        proctree.signal_group(self.process.pid, signal.SIGKILL)
        proctree.wait_group_gone(self.process.pid, self.process, STOP_TIMEOUT)
        self.process = proctree.spawn(self.command(), cwd=str(self.project.root), env=self.tools.env(),
                                      log_path=self.log_path)


class ContainerMixin:
    """Names and removes the container a contender creates; its CPU is counted through /proc."""

    tools: Tools
    needs_docker = True

    def container_name(self) -> str:
        return f"bench-{self.tools.run_id}-{self.name}"

    def container_pids(self) -> List[int]:
        return containers.host_pids(self.container_name())


class DockerRestart(ContainerMixin, Contender):
    name, label = "docker-restart", "docker restart per edit"
    how = ("a wsgiref server in a container (bind mount, --init so SIGTERM stops it), `docker restart` "
           "by the harness after each save")

    def start(self, project, port, log_path):
        self.project, self.port, self.log_path = project, port, log_path
        containers.remove(self.container_name())
        containers.docker(*containers.run_args(self.container_name(), self.tools.run_id), "--init",
                          "-p", f"127.0.0.1:{port}:8000", "-v", f"{project.root}:/app", "-w", "/app",
                          "-e", "PYTHONPYCACHEPREFIX=/tmp/pycache", self.tools.image,
                          "python3", "serve_wsgiref.py", "8000", "0.0.0.0")

    def roots(self):
        return self.container_pids()

    def running(self):
        return bool(self.container_pids())

    def after_edit(self):
        containers.docker("restart", self.container_name(), timeout=60)

    def stop(self):
        started = time.monotonic()
        containers.docker("stop", self.container_name(), timeout=60, check=False)
        return time.monotonic() - started

    def cleanup(self):
        containers.remove(self.container_name())


class DevboxContender(Contender):
    """devbox itself, configured by a devbox.yml written into the project."""

    kind = DEVBOX
    settings = ""  # more devbox.yml lines

    def project_name(self) -> str:
        return f"bench-{self.tools.run_id}-{self.name}"

    def prepare(self):
        (self.project.root / "devbox.yml").write_text(
            f"name: {self.project_name()}\n"
            f"image: {self.tools.image or 'unused-natively'}\n"
            "app: app:app\n"
            f'ports: ["127.0.0.1:{self.port}:8000"]\n' + self.settings)

    def cleanup(self):
        super().cleanup()
        try:
            (self.project.root / "devbox.yml").unlink()
        except (OSError, AttributeError):
            pass


class DevboxRun(DevboxContender):
    name, label = "devbox-run", "devbox run (native)"
    how = ("host watcher (watchfiles, content check) -> SIGHUP -> supervisor forks a child from its warm template "
           "(dependencies imported once) while the old child serves, on the socket it holds")

    def command(self):
        return [self.tools.program("devbox"), "run"]


class DevboxRunCold(DevboxRun):
    name, label = "devbox-run-cold", "devbox run, reload.warm: false"
    how = "the same with `reload: {warm: false}`: every child is a fresh interpreter that imports everything again"
    settings = "reload: {warm: false}\n"


class DevboxUp(ContainerMixin, DevboxContender):
    name, label = "devbox-up", "devbox up (container)"
    how = "the same, with the supervisor as PID 1 of a container (bind mount), signalled through the Docker API"

    def container_name(self) -> str:
        return f"{self.project_name()}-devbox"

    def command(self):
        return [self.tools.program("devbox"), "up"]

    def roots(self):
        return super().roots() + self.container_pids()

    def cleanup(self):
        super().cleanup()
        containers.remove(self.container_name())


ALL = (BottleReloader, UvicornReload, WatchfilesCli, WerkzeugStat, GunicornReload, DockerRestart, KillRespawn,
       DevboxRun, DevboxRunCold, DevboxUp)
NAMES = tuple(c.name for c in ALL)


def by_names(names) -> List[type]:
    """The contender classes named in `names` (in the canonical order); unknown names raise."""
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        raise ValueError(f"unknown contender(s) {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    return [c for c in ALL if c.name in names]
