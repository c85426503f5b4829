"""Starting an agent that outlives the terminal, and stopping one.

The agent runs as `python -m devbox -f DEVBOX_YML up --agent` in a new session (setsid), with
stdin from /dev/null and its output in agent.log (a new one each start): closing the terminal sends its
SIGHUP to the terminal's session, which the agent is not in, and having no terminal open, it
can never gain a controlling one. `devbox up -d` returns once it serves; it is reparented then.
`devbox up -d` forks it instead where it can (`fork`): the same agent in the same session, without
a second interpreter start and the same imports again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Mapping, Optional

from devbox.agent.home import AgentHome

STOP_TIMEOUT_S = 60.0  # a stop includes stopping the containers (their stop_grace)


def spawn(home: AgentHome, config_path: Path, verbose: bool = False,
          environ: Optional[Mapping[str, str]] = None) -> subprocess.Popen:
    home.ensure()
    fd = os.open(home.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        argv = [sys.executable, "-m", "devbox", "--file", str(config_path), *(["-v"] if verbose else []),
                "up", "--agent"]
        env = {**(os.environ if environ is None else environ), "PYTHONUNBUFFERED": "1"}
        return subprocess.Popen(argv, cwd=str(Path(config_path).parent), env=env, stdin=subprocess.DEVNULL,
                                stdout=fd, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        os.close(fd)


class Forked:
    """An agent forked from this process (see `fork`): `pid`, and `poll()` as Popen has it."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: Optional[int] = None

    def poll(self) -> Optional[int]:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                return None
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


def fork(home: AgentHome, config_path: Path, run: Callable[[], int]):
    """The agent as `spawn` starts it, but forked from this process, which has imported what the
    agent needs (devbox, its config package, docker-py): the agent's own interpreter start and
    imports are no longer on the way to the first response. The child runs `run()` in a new
    session, in the project's directory, stdin from /dev/null, its output in agent.log. A Forked,
    or None where there is no fork (then `spawn`)."""
    if not hasattr(os, "fork") or threading.active_count() > 1:  # a fork copies one thread only
        return None
    home.ensure()
    fd = os.open(home.log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    pid = os.fork()
    if pid:
        os.close(fd)
        return Forked(pid)
    code = 1
    try:
        os.setsid()
        os.chdir(str(Path(config_path).parent))
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(null)
        os.close(fd)
        sys.stdin = open(0, closefd=False)
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # line by line: what `spawn`'s
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # PYTHONUNBUFFERED=1 gives
        os.environ["PYTHONUNBUFFERED"] = "1"  # for what the agent starts in turn
        code = run()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - into agent.log, as an exec'ed agent would show it
        import traceback

        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code if isinstance(code, int) else 1)


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie, dead but not yet reaped by its parent, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return True  # no /proc (macOS): kill(0) said it exists


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def terminate(pid: int, timeout: float = STOP_TIMEOUT_S) -> bool:
    """SIGTERM `pid` (the agent stops as on a `stop` request), SIGKILL it after `timeout`;
    True when it is gone."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    if wait_gone(pid, timeout):
        return True
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    return wait_gone(pid, 5.0)
