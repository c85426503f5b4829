"""A long-lived receiver inside a copy-mode container: batches go in over one open exec.

`put_archive` costs the engine a helper process per call (~50-100 ms, even for one small file),
which a bind mount never pays. Instead, once the container runs, devbox starts one
`python3 -c RECEIVER` exec with its stdin attached and sends each batch down that stream: a tar
of the changed files, or a list of paths to remove. The receiver answers one line per request.
A save then costs a write and a round trip on a connection that is already open.

The receiver is as careful as Docker's own extraction, and a little more: every name must lie
under the workdir, no parent directory may be a symlink (a synced link can point anywhere in the
container), an existing path is removed before it is replaced rather than written through, and
a file is written to a temporary name and renamed into place, so the app never reads half a file.

It is plain Python 3.8+ standard library, like the supervisor, and needs nothing else in the
image. When it cannot start or its stream breaks, sync.py falls back to put_archive and exec.
"""

from __future__ import annotations

import struct
import threading
from typing import Optional

from devbox.errors import SyncError

SCRIPT = r'''
import io, os, shutil, struct, sys, tarfile, tempfile
root = sys.argv[1]
top = root.lstrip("/")
inp, out = sys.stdin.buffer, sys.stdout.buffer
as_root = os.geteuid() == 0

def read(n):
    data = b""
    while len(data) < n:
        chunk = inp.read(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data

def clear(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)

def check_parents(path):
    current = root
    for part in os.path.relpath(os.path.dirname(path), root).split("/"):
        if part == ".":
            continue
        current = os.path.join(current, part)
        if os.path.islink(current) or not os.path.isdir(current):
            raise ValueError("parent is not a directory: " + current)

def target(name):
    parts = name.split("/")
    if not name.startswith(top + "/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError("outside the workdir: " + name)
    path = "/" + name
    check_parents(path)
    return path

def finish(path, m):
    if as_root:
        os.lchown(path, m.uid, m.gid)
    if not m.issym():
        os.chmod(path, m.mode)
        os.utime(path, (m.mtime, m.mtime))

def extract(data):
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for m in tar:
            path = target(m.name)
            if m.isdir():
                if os.path.lexists(path) and (os.path.islink(path) or not os.path.isdir(path)):
                    os.unlink(path)
                if not os.path.isdir(path):
                    os.mkdir(path, 0o700)
                finish(path, m)
            elif m.issym():
                clear(path)
                os.symlink(m.linkname, path)
                finish(path, m)
            elif m.isfile():
                fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".devbox-")
                try:
                    with os.fdopen(fd, "wb") as f:
                        shutil.copyfileobj(tar.extractfile(m), f)
                    finish(tmp, m)
                    if os.path.isdir(path) and not os.path.islink(path):
                        shutil.rmtree(path)
                    os.replace(tmp, path)
                except BaseException:
                    if os.path.lexists(tmp):
                        os.unlink(tmp)
                    raise

def remove(data):
    for rel in data.decode("utf-8", "surrogateescape").split("\0"):
        path = target(top + "/" + rel)
        clear(path)

while True:
    try:
        head = read(13)
    except EOFError:
        break
    op, size = head[:5], struct.unpack(">Q", head[5:])[0]
    payload = read(size)
    try:
        if op == b"tar  ":
            extract(payload)
        elif op == b"rm   ":
            remove(payload)
        elif op != b"ping ":
            raise ValueError("unknown request %r" % op)
        out.write(b"ok\n")
    except Exception as exc:
        out.write(("error %s: %s\n" % (type(exc).__name__, str(exc).replace("\n", " "))).encode())
    out.flush()
'''

REPLY_LIMIT = 64 * 1024


class Broken(Exception):
    """The receiver's stream is gone; the caller falls back to put_archive and exec."""


class Receiver:
    """One running receiver exec in one container."""

    def __init__(self, container, workdir: str, timeout: float = 60.0):
        self.container_id = container.id
        api = container.client.api
        self._lock = threading.Lock()
        try:
            exec_id = api.exec_create(container.id, ["python3", "-I", "-S", "-u", "-c", SCRIPT, workdir],
                                      stdin=True, stdout=True, stderr=True, tty=False)["Id"]
            handle = api.exec_start(exec_id, socket=True)
        except Exception as exc:  # noqa: BLE001 - any failure here means: use the fallback
            raise Broken(f"cannot start the receiver: {exc}") from None
        self._handle = handle  # keeps the hijacked HTTP response (and its connection) alive
        self._sock = getattr(handle, "_sock", handle)  # SocketIO (unix) wraps a socket; ssh gives one
        if hasattr(self._sock, "settimeout") and not hasattr(self._sock, "proc"):
            self._sock.settimeout(timeout)
        self.request(b"ping ", b"")  # proves the whole path before the first real batch

    def request(self, op: bytes, payload: bytes) -> None:
        """Send one request and wait for its answer; SyncError when the receiver refused it,
        Broken when the stream failed."""
        with self._lock:
            try:
                self._sock.sendall(op + struct.pack(">Q", len(payload)) + payload)
                reply = self._read_line()
            except (OSError, EOFError, ValueError) as exc:
                raise Broken(f"the receiver stream broke: {exc}") from None
        if reply != "ok":
            raise SyncError(f"the container refused the copy: {reply.removeprefix('error ')}")

    def _read_line(self) -> str:
        line, errors = b"", b""
        while not line.endswith(b"\n"):
            kind, size = struct.unpack(">BxxxL", self._exactly(8))
            data = self._exactly(size)
            if kind == 2:
                errors += data
            else:
                line += data
            if len(line) + len(errors) > REPLY_LIMIT:
                raise ValueError("reply too long")
        if errors and not line.strip():
            raise EOFError(errors.decode(errors="replace").strip().splitlines()[-1])
        return line.decode(errors="replace").strip()

    def _exactly(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self._sock.recv(n - len(data))
            if not chunk:
                raise EOFError("the receiver exited")
            data += chunk
        return data

    def close(self) -> None:
        try:
            self._sock.close()
        except Exception:  # noqa: BLE001 - closing a broken stream
            pass
        try:
            self._handle.close()
        except Exception:  # noqa: BLE001
            pass


_receivers: dict = {}
_guard = threading.Lock()


def for_container(container, workdir: str) -> Optional[Receiver]:
    """The container's receiver, started on first use; None when it cannot run (then the caller
    uses put_archive and exec). Receivers of other containers are closed: one project, one
    container at a time."""
    with _guard:
        if container.id in _receivers:
            return _receivers[container.id]  # None: it could not start here, don't retry each save
        for other in _receivers.values():
            if other is not None:
                other.close()
        _receivers.clear()
        try:
            found = Receiver(container, workdir)
        except Broken:
            found = None
        _receivers[container.id] = found
        return found


def discard(container) -> None:
    """Forget (and close) the container's receiver after its stream broke."""
    with _guard:
        found = _receivers.pop(container.id, None)
    if found is not None:
        found.close()
