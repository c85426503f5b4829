"""Who accepted a connection, and whether a process tree holds the listening socket: what lets
a command's old process keep serving while the new one starts (overlap), Linux only.

While two generations of a command share the socket, a probe (probe.py) may be accepted by the
old one. Before the request is sent (so no server logs anything), the parent looks up who holds
the accepted end: the kernel gives an accepted socket an inode (0 while it waits in the
backlog), and the process that accepted it has an fd on `socket:[inode]`. The inode comes from
one netlink sock_diag lookup by the exact address pair (about 5 us; reading /proc/net/tcp walks
the whole host's table: 11 ms here, and polling it starved the new child). Checked against
Linux 6.x; elsewhere, or when netlink is refused, available() is False and commands do not
overlap.
"""

import os
import socket
import struct

from devbox.supervisor import protocol

_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLMSG_ERROR = 2
_NO_COOKIE = 0xFFFFFFFF


class Owners:
    """sock_diag lookups on one netlink socket, and /proc walks of process trees."""

    def __init__(self):
        self._diag = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG)

    def close(self):
        self._diag.close()

    def accepted_inode(self, client):
        """The inode of the server end of the connected `client` socket: 0 while it waits in the
        backlog, None when the kernel has no such socket."""
        family = client.family
        ours, theirs = client.getsockname()[:2], client.getpeername()[:2]

        def address(ip):
            raw = socket.inet_pton(family, ip)
            return raw + b"\0" * (16 - len(raw))

        sockid = (struct.pack("!HH", theirs[1], ours[1]) + address(theirs[0]) + address(ours[0])
                  + struct.pack("=III", 0, _NO_COOKIE, _NO_COOKIE))
        request = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF) + sockid
        self._diag.send(struct.pack("=IHHII", 16 + len(request), _SOCK_DIAG_BY_FAMILY, 1, 0, 0)
                        + request)
        answer = self._diag.recv(65536)
        if struct.unpack_from("=IH", answer, 0)[1] == _NLMSG_ERROR:
            return None
        return struct.unpack_from("=5I", answer, 16 + 4 + 48)[4]

    def works(self):
        """One lookup on a private loopback pair: before and after accept."""
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen(1)
            with socket.create_connection(server.getsockname()) as client:
                waiting = self.accepted_inode(client)
                conn, _ = server.accept()
                with conn:
                    return waiting == 0 and self.accepted_inode(client) == os.fstat(conn.fileno()).st_ino


def _holds(pid, target, skip_fd=None):
    fd_dir = "/proc/%d/fd" % pid
    try:
        fds = os.listdir(fd_dir)
    except OSError:
        return False
    for fd in fds:
        if fd == skip_fd:
            continue
        try:
            if os.readlink(os.path.join(fd_dir, fd)) == target:
                return True
        except OSError:
            continue
    return False


def took_listener(leader, listener_inode):
    """True once `leader` made its own copy of the shared socket: uvicorn, gunicorn's master,
    werkzeug and the sitecustomize shim do (socket.fromfd or dup of fd 3) right before they
    serve. Until then a probe would only feed empty connections to the old process, which
    competes with the new one's imports."""
    return _holds(leader, "socket:[%d]" % listener_inode, skip_fd=str(protocol.LISTEN_FD))


def group_holds(pgid, inode):
    """True when a process of group `pgid` has an fd on socket:[inode] (the leader, or one it
    started: gunicorn's workers accept, not its master). Reads every /proc/PID/stat (~2 ms for
    100 processes), so it is asked once per accepted probe, not polled."""
    target = "socket:[%d]" % inode
    if _holds(pgid, target):
        return True
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == pgid:
            continue
        try:
            with open("/proc/%s/stat" % entry, "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and _holds(int(entry), target):
            return True
    return False


def available():
    """An Owners when this system can tell who accepted a connection, else None."""
    if not hasattr(socket, "AF_NETLINK") or not os.path.isdir("/proc/self/task"):
        return None
    try:
        owners = Owners()
    except OSError:
        return None
    try:
        if owners.works():
            return owners
    except (OSError, struct.error):
        pass
    owners.close()
    return None
