"""The supervisor's files as injected into a container under SUPERVISOR_ROOT, and their digest.

Used by single containers and compose services alike: a read-only bind mount of a host copy
(write_copy) where the project is bind-mounted (a local engine; put_archive cost ~70 ms of every
new container's start), else put_archive before the start (copy sync, a remote engine).
"""

from __future__ import annotations

import functools
import hashlib
import io
import tarfile
import time
from pathlib import Path

from devbox.supervisor import protocol

SUPERVISOR_ROOT = protocol.INSTALL_ROOT
# A launcher script, not `python3 -m devbox.supervisor`: with -m the project directory comes first
# on sys.path, and a project that has its own `devbox` package would shadow the injected one.
SUPERVISOR_LAUNCHER = f"{SUPERVISOR_ROOT}/devbox-supervisor"
SUPERVISOR_SOURCE = Path(__file__).resolve().parent / "supervisor"
# The standard library's bytecode caches are read where they are, not recompiled under the
# container's PYTHONPYCACHEPREFIX (devbox.supervisor.bytecode.private_caches).
LAUNCHER = (
    "import sys\n"
    "sys.path.insert(0, %r)\n"
    "%s\n"
    "import runpy\n"
    "runpy.run_module('devbox.supervisor', run_name='__main__', alter_sys=True)\n"
) % (SUPERVISOR_ROOT, protocol.PRIVATE_CACHES.strip().rstrip(";"))


def launch_argv() -> tuple:
    """How a container starts the injected supervisor; its arguments follow."""
    return ("python3", SUPERVISOR_LAUNCHER)


def supervisor_files():
    """(archive path, bytes, mode) of everything injected into a container under /opt/devbox."""
    root = SUPERVISOR_ROOT.lstrip("/")
    yield f"{root}/devbox/__init__.py", b"", 0o644
    for path in sorted(SUPERVISOR_SOURCE.glob("*.py")) + sorted(SUPERVISOR_SOURCE.glob(f"{protocol.SHIM_DIR}/*.py")):
        name = path.relative_to(SUPERVISOR_SOURCE).as_posix()
        yield f"{root}/devbox/supervisor/{name}", path.read_bytes(), 0o644
    yield SUPERVISOR_LAUNCHER.lstrip("/"), LAUNCHER.encode(), 0o755


@functools.lru_cache(maxsize=1)
def supervisor_digest() -> str:
    """Read once per process: every plan() needs it, and the files do not change under us."""
    digest = hashlib.sha256()
    for name, data, _ in supervisor_files():
        digest.update(name.encode() + b"\0" + data)
    return digest.hexdigest()[:16]


def supervisor_archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data, mode in supervisor_files():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def write_copy(target: Path) -> Path:
    """The supervisor's files on the host under `target` (in the project's state dir), laid out as
    under SUPERVISOR_ROOT; files that are no longer injected are removed. Returns `target`."""
    from devbox.paths import write_state_file

    prefix = SUPERVISOR_ROOT.lstrip("/") + "/"
    wanted = set()
    for name, data, mode in supervisor_files():
        path = target / (name[len(prefix):] if name.startswith(prefix) else name)
        wanted.add(path)
        write_state_file(path, data, mode)
    for path in target.rglob("*"):
        if path.is_file() and path not in wanted:
            path.unlink()
    return target
