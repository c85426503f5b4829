"""The compose CLI: which one (the `docker compose` plugin or docker-compose v1), and running it
with the project's name and files, its errors turned into one line."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Callable, List, Mapping, Optional, Sequence, Tuple

import yaml

from devbox import events
from devbox.errors import ComposeError

COMPOSE_ENV = "DEVBOX_COMPOSE"  # the compose command to use, e.g. "docker-compose"
_INSTALL_HINT = ("install the Docker Compose plugin (Docker Desktop has it; Debian/Ubuntu: "
                 "`apt-get install docker-compose-plugin` from Docker's apt repository) or "
                 "docker-compose v1 (`apt-get install docker-compose`), or set DEVBOX_COMPOSE to its command")

Report = Callable[..., None]


def _noop(event, **fields):
    pass


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

    def config(self, files: Sequence[Path], display: str) -> dict:
        """The user's files merged as compose reads them (interpolated, normalised); compose's own
        error, naming the file, when they are invalid."""
        result = subprocess.run(self.command("config", files=list(files)), env=self.environ, capture_output=True,
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
                report(events.COMPOSE, line=line)
            status = process.wait()
        except BaseException:
            process.kill()  # Ctrl-C: compose got the SIGINT too; do not leave it behind
            process.wait()
            raise
        if status != 0:
            raise ComposeError(f"`{self.name} {what or args[0]}` failed: {compose_message(chr(10).join(tail))}",
                               f"run `devbox -v {what or args[0]}` to see compose's full output")
