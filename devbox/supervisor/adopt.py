"""In a command child (through the sitecustomize shim): a Python socket that binds the app's port
takes the supervisor's socket instead (dup2 of fd 3 onto it), so any server written in Python
serves there as it is: Django's runserver, wsgiref and http.server, Bottle's default server and
its own `reloader=True`, uvicorn or gunicorn told to bind the port. A reload then refuses no
connection, and the old process keeps serving while the new one starts. Servers written in C or
Rust (granian...) bind outside Python: they need `listen: self`.

What the adopted socket must not do to the shared one: `listen(n)` would shrink the backlog the
supervisor set (socketserver asks for 5), so it is skipped. The shared socket is non-blocking
(spawn.py), which a server that calls a blocking `accept()` does not expect: such an accept
waits for a connection and tries again, as a blocking one would, until the process stops
(graceful.py's wake fd, WAKE_FD): then it raises BlockingIOError, which socketserver's loop
takes as "nothing to accept" before it sees the stop. Other ports, and sockets of another
family, bind as usual.

Loaded by the shim by its path (it imports nothing of devbox). Standard library only.
"""

import os
import select
import socket

WAKE_FD = None  # readable once the process stops (set by the shim from graceful.py)


def install(fd):
    """Patch socket.socket so that binding fd's port adopts fd; False when fd is no TCP socket."""
    try:
        with socket.socket(fileno=os.dup(fd)) as shared:
            if shared.type != socket.SOCK_STREAM:
                return False
            family, port = shared.family, shared.getsockname()[1]
        inode = os.fstat(fd).st_ino
    except OSError:
        return False
    cls = socket.socket
    bind, listen, accept = cls.bind, cls.listen, cls.accept

    def is_shared(sock):
        """True when `sock` is (a copy of) the supervisor's socket."""
        try:
            return os.fstat(sock.fileno()).st_ino == inode
        except OSError:
            return False

    def adopting_bind(self, address):
        if (self.family == family and self.type == socket.SOCK_STREAM
                and isinstance(address, tuple) and len(address) >= 2 and address[1] == port):
            os.dup2(fd, self.fileno(), inheritable=self.get_inheritable())
            return None
        return bind(self, address)

    def adopted_listen(self, *backlog):
        if not is_shared(self):
            return listen(self, *backlog)
        return None

    def patient_accept(self):
        while True:
            try:
                return accept(self)
            except BlockingIOError:
                if self.gettimeout() is not None or not is_shared(self):
                    raise
                # Another process took it: wait for the next, or for the stop.
                wake = [WAKE_FD] if WAKE_FD is not None else []
                ready, _, _ = select.select([self] + wake, [], [])
                if self not in ready:
                    raise

    cls.bind, cls.listen, cls.accept = adopting_bind, adopted_listen, patient_accept
    return True
