"""The start gate: a container whose app must wait for lifecycle commands (`hooks.wait_for`)
starts a small launcher that blocks on a FIFO before it runs the supervisor.

Why a gate and not "start the supervisor, run the hooks, then reload": the app would first start
in a half-prepared container (before `pip install -e .`, say), show an error page or serve stale
code, and cost a reload for nothing. Why a FIFO: opening it for reading blocks until devbox opens
it for writing, whichever comes first, so nothing polls and no release can be lost (a signal sent
before the launcher installed its handler would be dropped by PID 1). The FIFO goes into the
container with the gate launcher, once, at creation; it outlives a stop, so every start waits.
Both live beside SUPERVISOR_ROOT, not in it: a compose service mounts that directory read-only.
"""

from __future__ import annotations

import io
import tarfile
import time

from devbox.injected import SUPERVISOR_LAUNCHER, SUPERVISOR_ROOT

GATE_ROOT = f"{SUPERVISOR_ROOT}-gate"
GATE_LAUNCHER = f"{GATE_ROOT}/launch"
GATE_FIFO = f"{GATE_ROOT}/fifo"
RELEASE_TIMEOUT = 30  # seconds a release waits for the launcher to open the FIFO
# Stop signals end the wait (PID 1 ignores them otherwise); then the supervisor's own launcher
# runs in this process, keeping PID 1 and the arguments.
_LAUNCHER = (
    "import os, runpy, signal, sys\n"
    "for s in (signal.SIGTERM, signal.SIGINT):\n"
    "    signal.signal(s, lambda *_: os._exit(0))\n"
    "with open(%r, 'rb') as gate:\n"
    "    gate.read()\n"
    "for s in (signal.SIGTERM, signal.SIGINT):\n"
    "    signal.signal(s, signal.SIG_DFL)\n"
    "sys.argv[0] = %r\n"
    "runpy.run_path(%r, run_name='__main__')\n"
) % (GATE_FIFO, SUPERVISOR_LAUNCHER, SUPERVISOR_LAUNCHER)
# Opening the FIFO for writing releases the reader; O_NONBLOCK (second argument) gives up at once
# when nobody waits (a container released before, whose devbox went away).
_RELEASE = (
    "import os, signal, sys\n"
    "signal.alarm(%d)\n"
    "try:\n"
    "    os.close(os.open(sys.argv[1], os.O_WRONLY | (os.O_NONBLOCK if sys.argv[2:] else 0)))\n"
    "except OSError:\n"
    "    pass\n"
) % RELEASE_TIMEOUT


def launch_argv() -> tuple:
    """How a gated container starts; the supervisor's arguments follow."""
    return ("python3", GATE_LAUNCHER)


def release_argv(if_waiting: bool = False) -> list:
    """The command (run in the container, as root) that lets the gated supervisor start."""
    return ["python3", "-c", _RELEASE, GATE_FIFO] + (["now"] if if_waiting else [])


def archive() -> bytes:
    """The gate launcher and its FIFO, for put_archive at "/" before the first start."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        script = _LAUNCHER.encode()
        info = tarfile.TarInfo(GATE_LAUNCHER.lstrip("/"))
        info.size, info.mode, info.mtime = len(script), 0o755, int(time.time())
        tar.addfile(info, io.BytesIO(script))
        fifo = tarfile.TarInfo(GATE_FIFO.lstrip("/"))
        fifo.type, fifo.mode, fifo.mtime = tarfile.FIFOTYPE, 0o644, int(time.time())
        tar.addfile(fifo)
    return buffer.getvalue()
