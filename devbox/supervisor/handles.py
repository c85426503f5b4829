"""The supervisor's handles on the warm template's processes (template.py): the template itself,
a standby child it forked ahead of time, and a fork asked of it. warm.WarmSpawner drives them.
"""

import array
import signal
import socket

from devbox.supervisor import protocol
from devbox.supervisor.primitives import kill_group, send_line


class Template:
    """The running template: its pid and our end of its SOCK_SEQPACKET socket."""

    def __init__(self, pid, sock):
        self.pid = pid
        self.sock = sock

    def fileno(self):
        return self.sock.fileno()

    def send_fork(self, n, theirs):
        """Ask for fork n, with the child's control socket. A send that fails needs nothing
        here: the template is gone, and its EOF or exit brings the next one, which gets the
        request."""
        fds = array.array("i", [theirs.fileno()])
        try:
            self.sock.sendmsg([("%s %d" % (protocol.TPL_FORK, n)).encode()],
                              [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
        except OSError:
            pass

    def send_setup(self, spec):
        try:
            self.sock.send(("%s %s" % (protocol.TPL_SETUP, spec)).encode())
        except OSError:
            pass  # gone: see send_fork

    def send_names(self, kind, names):
        """One message per TPL_MAX_PACKET bytes of names."""
        batch, size = [], 0
        for name in list(names) + [None]:
            if name is None or (batch and size + len(name) + 1 > protocol.TPL_MAX_PACKET - 64):
                if batch:
                    try:
                        self.sock.send(("%s %s" % (kind, " ".join(batch))).encode())
                    except OSError:
                        return  # gone: see send_fork
                batch, size = [], 0
            if name is not None:
                batch.append(name)
                size += len(name) + 1

    def end(self):
        self.sock.close()  # EOF: it exits even if we never signal it
        kill_group(self.pid, signal.SIGKILL)  # it may be busy importing; it holds nothing we need


class Standby:
    """A child the template forked ahead of time: it waits for MSG_GO. `epoch` says which of
    the template's imports it has (a child forked before an import lacks those modules)."""

    def __init__(self, pid, control, epoch):
        self.pid = pid
        self.control = control  # our end of its control socket
        self.epoch = epoch

    def go(self):
        """Send it on: (pid, control), as a spawner hands over a child."""
        send_line(self.control, protocol.MSG_GO)
        return self.pid, self.control

    def end(self):
        self.control.close()
        kill_group(self.pid, signal.SIGKILL)


class Request:
    """A fork asked of the template: the child's control socket, and the generation waiting for
    it (None: it becomes the standby child)."""

    def __init__(self, generation, epoch):
        self.generation = generation
        self.epoch = epoch
        self.ours, self.theirs = socket.socketpair()
        self.ours.setblocking(False)

    def close(self):
        self.ours.close()
        self.theirs.close()
