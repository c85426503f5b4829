"""The supervisor's files as injected into a container under SUPERVISOR_ROOT, and their digest.

Used by single containers and compose services alike: a read-only bind mount of a host copy
(write_copy) where the project is bind-mounted (a local engine; put_archive cost ~70 ms of every
new container's start), else put_archive before the start (copy sync, a remote engine).

With the sources go their bytecode caches, compiled here by this Python for its own cache tag
(shipped_bytecode): a fresh container otherwise compiled the supervisor from source at every
start (~50-100 ms before its first child, and the same again in precompile_package). They are
checked-hash caches (PEP 552), valid whatever the files' mtimes, and the container's Python reads
them only when they are its own (bytecode.private_caches: the same cache tag and magic number);
any other Python ignores them and compiles the sources as before. The host cannot know the
image's Python before it runs, so the choice is made there.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import sys
import tarfile
import time
from pathlib import Path
from typing import Iterator, Tuple

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


File = Tuple[str, bytes, int]  # archive path (under SUPERVISOR_ROOT, no leading /), bytes, mode


def supervisor_sources() -> Iterator[File]:
    """The injected package's sources and its launcher."""
    root = SUPERVISOR_ROOT.lstrip("/")
    yield f"{root}/devbox/__init__.py", b"", 0o644
    for path in sorted(SUPERVISOR_SOURCE.glob("*.py")) + sorted(SUPERVISOR_SOURCE.glob(f"{protocol.SHIM_DIR}/*.py")):
        name = path.relative_to(SUPERVISOR_SOURCE).as_posix()
        yield f"{root}/devbox/supervisor/{name}", path.read_bytes(), 0o644
    yield SUPERVISOR_LAUNCHER.lstrip("/"), LAUNCHER.encode(), 0o755


def supervisor_files() -> Iterator[File]:
    """(archive path, bytes, mode) of everything injected into a container under /opt/devbox:
    the sources, then their bytecode caches for this Python."""
    sources = list(supervisor_sources())
    yield from sources
    yield from shipped_bytecode(sources)


@functools.lru_cache(maxsize=1)
def supervisor_digest() -> str:
    """Read once per process: every plan() needs it, and the files do not change under us. Of
    the sources only: the caches follow from them (and from the host's Python, which the
    container's need not be)."""
    digest = hashlib.sha256()
    for name, data, _ in supervisor_sources():
        digest.update(name.encode() + b"\0" + data)
    return digest.hexdigest()[:16]


def shipped_bytecode(sources) -> Iterator[File]:
    """The checked-hash caches of the `sources`' modules (NAME.py -> __pycache__/NAME.TAG.pyc),
    compiled by this Python once per supervisor digest into devbox's cache dir (compiling all
    of them costs ~50 ms) and read from there after; none when this Python writes no caches of
    its own kind (no cache tag)."""
    tag = sys.implementation.cache_tag
    if tag is None:
        return
    from devbox.paths import user_cache_dir

    store = user_cache_dir() / "bytecode" / f"{supervisor_digest()}-{tag}"
    for name, data, _ in sources:
        if not name.endswith(".py"):
            continue
        folder, _, module = name.rpartition("/")
        cache = f"{folder}/__pycache__/{module[:-3]}.{tag}.pyc"
        try:
            compiled = (store / cache).read_bytes()
        except OSError:
            compiled = _compile(data, "/" + name, store / cache)
        if compiled is not None:
            yield cache, compiled, 0o644


def _compile(source: bytes, container_path: str, target: Path):
    """The checked-hash cache of `source` as the container's file `container_path` (the name its
    tracebacks show), also left at `target` for the next time; None if it does not compile."""
    import importlib.util
    import marshal

    try:
        code = compile(source, container_path, "exec", dont_inherit=True, optimize=0)
    except (SyntaxError, ValueError):
        return None
    # PEP 552's header: magic, flags (0b11: hash-based, checked), the source's hash, then the code.
    data = importlib.util.MAGIC_NUMBER + (0b11).to_bytes(4, "little") + importlib.util.source_hash(source) \
        + marshal.dumps(code)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, target)
    except OSError:
        pass  # compiled again next time
    return data


def supervisor_archive() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data, mode in supervisor_files():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


COPY_STAMP = ".devbox-copy"  # in a host copy: the digest and cache tag it was laid out for


def write_copy(target: Path) -> Path:
    """The supervisor's files (and their caches) on the host under `target` (in the project's
    state dir), laid out as under SUPERVISOR_ROOT; files that are no longer injected are removed.
    Returns `target`. A copy whose stamp names this digest and cache tag is taken as it is (a
    kept project's next `up`: ~12 ms of reading and comparing 70 files otherwise); a new one is
    written whole into a sibling directory and renamed into place (~10 ms, where writing file
    by file as below took ~35)."""
    from devbox.paths import write_state_file

    stamp = f"{supervisor_digest()}-{sys.implementation.cache_tag}\n"
    try:
        if (target / COPY_STAMP).read_text() == stamp:
            return target
    except OSError:
        pass
    prefix = SUPERVISOR_ROOT.lstrip("/") + "/"
    files = [(target / (name[len(prefix):] if name.startswith(prefix) else name), data, mode)
             for name, data, mode in supervisor_files()]
    if target.exists() or not _lay_out_new(target, files):
        for path, data, mode in files:
            write_state_file(path, data, mode)
        wanted = {path for path, _, _ in files} | {target / COPY_STAMP}
        for path in target.rglob("*"):
            if path.is_file() and path not in wanted:
                path.unlink()
    write_state_file(target / COPY_STAMP, stamp)  # last: the copy is whole
    return target


def _lay_out_new(target: Path, files) -> bool:
    """`files` (paths under `target`) written into a new directory renamed to `target`; False
    when `target` appeared meanwhile, or on any failure (then nothing of it is left)."""
    import shutil

    building = target.with_name(f".{target.name}.{os.getpid()}.new")
    try:
        made = set()
        for path, data, mode in files:
            path = building / path.relative_to(target)
            if path.parent not in made:
                path.parent.mkdir(parents=True, exist_ok=True)
                made.add(path.parent)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            os.chmod(path, mode)  # whatever the umask
        os.rename(building, target)
        return True
    except OSError:
        shutil.rmtree(building, ignore_errors=True)
        return False
