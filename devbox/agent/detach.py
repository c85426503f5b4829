"""Starting an agent that outlives the terminal, and stopping one.

The agent runs as `python -m devbox -f DEVBOX_YML up --agent` in a new session (setsid), with
stdin from /dev/null and its output in agent.log (a new one each start): closing the terminal sends its
SIGHUP to the terminal's session, which the agent is not in, and having no terminal open, it
can never gain a controlling one. `devbox up -d` returns once it serves; it is reparented then.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Mapping, Optional

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
