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

The parent's probe waits for the new process to hold a copy of the shared socket besides fd 3
(owner.took_listener) as the sign that it is about to serve. Servers that copy it themselves
(uvicorn --fd 3, werkzeug: socket.fromfd) and a bind adopted above show it anyway; one that
wraps fd 3 as it is (`socket.socket(fileno=3)`) or accepts on it would not, and would be probed
only after PROBE_GATE_WAIT: for those a copy (a dup of fd 3) is kept from then on.

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
    init, bind, listen, accept = cls.__init__, cls.bind, cls.listen, cls.accept
    held = []  # the copy of fd 3 that says this process serves on it

    def is_shared(sock):
        """True when `sock` is (a copy of) the supervisor's socket."""
        try:
            return os.fstat(sock.fileno()).st_ino == inode
        except OSError:
            return False

    def hold(sock):
        if not held and is_shared(sock):
            held.append(os.dup(fd))

    def noting_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        if kwargs.get("fileno", args[3] if len(args) > 3 else None) is not None:
            hold(self)  # wraps an fd it was given: fd 3, maybe

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
        hold(self)
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

    cls.__init__ = noting_init
    cls.bind, cls.listen, cls.accept = adopting_bind, adopted_listen, patient_accept
    return True
