"""The host's end of the copy-mode receiver: batches go into the container over one open exec.

`put_archive` costs the engine a helper process per call (~50-100 ms, even for one small file),
which a bind mount never pays. Instead, once the container runs, devbox starts one exec of the
receiver program (devbox/supervisor/receiver.py, copied in with the supervisor) with its stdin
attached and sends each batch down that stream: a tar of the changed files, or a list of paths
to remove. The receiver answers one line per request. A save then costs a write and a round
trip on a connection that is already open.

The program is plain Python 3.8+ standard library, like the supervisor, and needs nothing else
in the image. When it cannot start or its stream breaks, sync.py falls back to put_archive and
exec.
"""

from __future__ import annotations

import struct
import threading
from typing import Optional

from devbox.errors import SyncError
from devbox.supervisor import protocol

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
            exec_id = api.exec_create(container.id, protocol.program_argv(protocol.RECEIVER_MODULE, [workdir]),
                                      stdin=True, stdout=True, stderr=True, tty=False)["Id"]
            handle = api.exec_start(exec_id, socket=True)
        except Exception as exc:  # noqa: BLE001 - any failure here means: use the fallback
            raise Broken(f"cannot start the receiver: {exc}") from None
        self._handle = handle  # keeps the hijacked HTTP response (and its connection) alive
        self._sock = getattr(handle, "_sock", handle)  # SocketIO (unix) wraps a socket; ssh gives one
        if hasattr(self._sock, "settimeout") and not hasattr(self._sock, "proc"):
            self._sock.settimeout(timeout)
        self.request(protocol.RECEIVER_PING, b"")  # proves the whole path before the first real batch

    def request(self, op: bytes, payload: bytes) -> None:
        """Send one request and wait for its answer; SyncError when the receiver refused it,
        Broken when the stream failed."""
        with self._lock:
            try:
                self._sock.sendall(protocol.receiver_request(op, payload))
                reply = self._read_line()
            except (OSError, EOFError, ValueError) as exc:
                raise Broken(f"the receiver stream broke: {exc}") from None
        if reply != protocol.RECEIVER_OK:
            reason = reply.removeprefix(protocol.RECEIVER_ERROR).strip()
            raise SyncError(f"the container refused the copy: {reason}")

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
