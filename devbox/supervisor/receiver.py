"""The copy-mode receiver, inside the container: `protocol.program_argv(RECEIVER_MODULE, [WORKDIR])`.

The host (devbox/receiver.py) keeps one exec of this program open per container and sends each
watcher batch down its stdin: a tar of the changed files, or a list of paths to remove
(RECEIVER_* in protocol.py). It answers one line per request. A save then costs a write and a
round trip on a connection that is already open, where `put_archive` costs the engine a helper
process per call (~50-100 ms, even for one small file).

It is as careful as Docker's own extraction, and a little more: every name must lie under the
workdir, no parent directory may be a symlink (a synced link can point anywhere in the
container), an existing path is removed before it is replaced rather than written through, and
a file is written to a temporary name and renamed into place, so the app never reads half a file.
"""

import io
import os
import shutil
import struct
import sys
import tarfile
import tempfile

from devbox.supervisor import protocol


def main(argv=None):
    """Serve requests on stdin until EOF; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    Receiver(argv[0]).serve(sys.stdin.buffer, sys.stdout.buffer)
    return 0


class Receiver:
    """Applies requests to the tree under `root` (the container's workdir)."""

    def __init__(self, root):
        self.root = root
        self.top = root.lstrip("/")
        self.as_root = os.geteuid() == 0

    def serve(self, inp, out):
        head_size = protocol.RECEIVER_OP_SIZE + struct.calcsize(protocol.RECEIVER_LENGTH)
        while True:
            try:
                head = _read(inp, head_size)
            except EOFError:
                return
            op = head[:protocol.RECEIVER_OP_SIZE]
            size = struct.unpack(protocol.RECEIVER_LENGTH, head[protocol.RECEIVER_OP_SIZE:])[0]
            payload = _read(inp, size)
            try:
                self.apply(op, payload)
                out.write(protocol.RECEIVER_OK.encode() + b"\n")
            except Exception as exc:  # noqa: BLE001 - any failure is the answer, not the end
                out.write(("%s %s: %s\n" % (protocol.RECEIVER_ERROR, type(exc).__name__,
                                            str(exc).replace("\n", " "))).encode())
            out.flush()

    def apply(self, op, payload):
        if op == protocol.RECEIVER_TAR:
            self.extract(payload)
        elif op == protocol.RECEIVER_RM:
            self.remove(payload)
        elif op != protocol.RECEIVER_PING:
            raise ValueError("unknown request %r" % op)

    def target(self, name):
        """The container path for archive name `name`; ValueError unless it is under the
        workdir and no parent on the way is a symlink or missing."""
        parts = name.split("/")
        if not name.startswith(self.top + "/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError("outside the workdir: " + name)
        path = "/" + name
        current = self.root
        for part in os.path.relpath(os.path.dirname(path), self.root).split("/"):
            if part == ".":
                continue
            current = os.path.join(current, part)
            if os.path.islink(current) or not os.path.isdir(current):
                raise ValueError("parent is not a directory: " + current)
        return path

    def extract(self, data):
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for member in tar:
                path = self.target(member.name)
                if member.isdir():
                    if os.path.lexists(path) and (os.path.islink(path) or not os.path.isdir(path)):
                        os.unlink(path)
                    if not os.path.isdir(path):
                        os.mkdir(path, 0o700)
                    self._finish(path, member)
                elif member.issym():
                    _clear(path)
                    os.symlink(member.linkname, path)
                    self._finish(path, member)
                elif member.isfile():
                    self._place_file(tar, member, path)

    def _place_file(self, tar, member, path):
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".devbox-")
        try:
            with os.fdopen(fd, "wb") as f:
                shutil.copyfileobj(tar.extractfile(member), f)
            self._finish(tmp, member)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            os.replace(tmp, path)
        except BaseException:
            if os.path.lexists(tmp):
                os.unlink(tmp)
            raise

    def _finish(self, path, member):
        if self.as_root:
            os.lchown(path, member.uid, member.gid)
        if not member.issym():
            os.chmod(path, member.mode)
            os.utime(path, (member.mtime, member.mtime))

    def remove(self, data):
        for rel in data.decode("utf-8", "surrogateescape").split("\0"):
            _clear(self.target(self.top + "/" + rel))


def _read(inp, n):
    data = b""
    while len(data) < n:
        chunk = inp.read(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def _clear(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


if __name__ == "__main__":
    sys.exit(main())
