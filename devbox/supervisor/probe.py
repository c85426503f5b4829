"""Readiness of a command, which cannot say when it serves: one HTTP request on the app's port,
answered.

"Spawned" is not "serving": FastAPI under `uvicorn --fd 3` answers ~1 s after its spawn, and
devbox used to print the spawn. So the parent connects to the app's port and sends one small
request (PROBE_PATH, PROBE_USER_AGENT). On the supervisor's own socket the connection completes
at once into the backlog and waits there until the new process accepts it, so one probe per
reload is enough; the first byte of any answer (a 404, a 400, a redirect: any status) is the
moment the new code serves. A refused connection (`listen: self`, nothing bound yet) or one
closed unanswered is made again after PROBE_RETRY_AFTER. The parent starts the probe only once
no older child is left that could answer it.

Overlap (owner.py, Linux): the old process keeps serving while the new one starts, so a probe
may be accepted by the old one. Then the probe is made at once but its request is sent only once
the new process's group holds the accepted end; taken by anyone else, it is closed unsent (an
empty connection: servers log nothing) and made again. And it is made only once the new process
holds its own copy of the listener (it is about to serve), or after PROBE_GATE_WAIT (a server
outside Python that serves on fd 3 itself never makes a copy).

The probe runs the app's `/` view once per reload (one line in its access log). A command that
never answers (not HTTP, or a `/` that hangs) is given up after PROBE_TIMEOUT.
"""

import errno
import socket

from devbox.supervisor import owner, protocol

ANSWERED = "answered"
TIMED_OUT = "timed out"

# Where the probe connects when the app listens on a wildcard address.
_LOOPBACK = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}
_CONNECTING = (0, errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK)


def probe_request(port):
    """The bytes of the probe. Host localhost:PORT passes Django's DEBUG ALLOWED_HOSTS;
    Connection: close asks the server to end the exchange."""
    return ("GET %s HTTP/1.1\r\nHost: localhost:%d\r\nUser-Agent: %s\r\nConnection: close\r\n\r\n"
            % (protocol.PROBE_PATH, port, protocol.PROBE_USER_AGENT)).encode("ascii")


class _Connection:
    """One probe connection: connect, send the request, wait for the first byte of an answer."""

    def __init__(self, host, port):
        host = _LOOPBACK.get(host, host)
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                                  socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.failed = self.sock.connect_ex((host, port)) not in _CONNECTING
        self._unsent = probe_request(port)
        self.drain_until = None

    def fileno(self):
        return self.sock.fileno()

    def wants_write(self):
        return bool(self._unsent) and not self.failed and not self.held

    held = False  # overlap: not sent until we know who accepted it

    def send(self):
        try:
            self._unsent = self._unsent[self.sock.send(self._unsent):]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self.failed = True  # refused: nothing listens yet

    def answered(self):
        """True once an answer began, False when the connection failed or was closed unanswered
        (a process that was going away took it), None while waiting."""
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            return False
        return bool(data)

    def drained(self):
        """Read what is left of the answer; True at EOF. Closed with the answer unread, the
        connection would be reset, and the server would see (and may log, or crash on) it."""
        try:
            while self.sock.recv(65536):
                pass
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            pass
        return True

    def close(self):
        self.sock.close()


class Prober:
    """Probes the command child the parent waits for (`target`, any object; one at a time).
    The parent puts read_fds()/write_fds() in its select and timeout() in its timeout, and calls
    step() after each select: it returns (target, ANSWERED or TIMED_OUT) once, else None."""

    def __init__(self, host, port, clock, owners=None, listener_inode=None):
        self.host = host
        self.port = port
        self.clock = clock
        self.owners = owners  # an owner.Owners: probe while older children still serve
        self.listener_inode = listener_inode
        self.target = None
        self._pid = None
        self._gated = False  # overlap: the new process holds its own copy of the listener
        self._gate_until = None  # overlap: clock time after which the probe goes ungated
        self._retakes = 0  # probes another process took, this target
        self._check_at = None  # overlap: clock time to look up who accepted the probe
        self._conn = None
        self._retry_at = None  # clock time to make the next connection
        self._deadline = None
        self._draining = []  # answered connections, read to EOF before they are closed

    @property
    def overlaps(self):
        return self.owners is not None

    def expect(self, target, pid=None):
        """Wait for `target`, process `pid` (it leads its group); the probe itself waits for
        start(). The deadline runs from now."""
        self.drop()
        self.target, self._pid = target, pid
        now = self.clock()
        self._deadline = now + protocol.PROBE_TIMEOUT
        self._gate_until = now + protocol.PROBE_GATE_WAIT

    def start(self):
        """Send the probe now (no older child is left that could answer it)."""
        if self.target is not None and self._conn is None and self._retry_at is None:
            self._retry_at = self.clock()

    def drop(self):
        """Stop probing: the target is outdated or gone."""
        if self._conn is not None:
            self._conn.close()
        self.target = self._conn = self._retry_at = self._deadline = self._check_at = None
        self._gated, self._gate_until, self._retakes = False, None, 0

    def close(self):
        self.drop()
        for conn in self._draining:
            conn.close()
        self._draining = []
        if self.owners is not None:
            self.owners.close()

    def read_fds(self):
        conns = ([self._conn] if self._conn is not None else []) + self._draining
        return [conn.fileno() for conn in conns]

    def write_fds(self):
        conn = self._conn
        return [conn.fileno()] if conn is not None and conn.wants_write() else []

    def timeout(self):
        """Seconds until step() has something to do without an fd, or None."""
        times = [t for t in [self._retry_at, self._deadline, self._check_at] if t is not None]
        times += [conn.drain_until for conn in self._draining]
        return max(0.0, min(times) - self.clock()) if times else None

    def step(self, readable, writable):
        now = self.clock()
        self._drain(readable, now)
        if self.target is None:
            return None
        if now >= self._deadline:
            return self._finish(TIMED_OUT)
        if self._retry_at is not None and now >= self._retry_at:
            self._retry_at = None
            self._connect(now)
        conn = self._conn
        if conn is None:
            return None
        if conn.held and now >= self._check_at:
            self._check_owner(conn, now)
            if self._conn is None:
                return None
        if conn.fileno() in writable:
            conn.send()
        answered = False if conn.failed else (conn.answered() if conn.fileno() in readable
                                              else None)
        if answered is None:
            return None
        self._conn = None
        if not answered:
            conn.close()
            self._retry_at = now + protocol.PROBE_RETRY_AFTER
            return None
        conn.drain_until = now + protocol.PROBE_DRAIN_TIMEOUT
        self._draining.append(conn)
        return self._finish(ANSWERED)

    def _connect(self, now):
        if self.overlaps and not (self._took_listener() or now >= self._gate_until):
            self._retry_at = now + protocol.PROBE_OWNER_POLL
            return
        self._conn = _Connection(self.host, self.port)
        if self.overlaps:
            self._conn.held = True
            self._check_at = now

    def _check_owner(self, conn, now):
        """Overlap: send the request once the new process's group accepted the probe."""
        try:
            inode = self.owners.accepted_inode(conn.sock)
        except OSError:
            inode = None  # not connected yet, or netlink refused this once: look again
        if not inode:
            self._check_at = now + protocol.PROBE_OWNER_POLL
            return
        self._check_at = None
        if owner.group_holds(self._pid, inode):
            conn.held = False
            return
        conn.close()  # an older process took it: unsent, so it logs nothing
        self._conn = None
        self._retakes += 1
        # Soon once the new process holds the listener (it is about to accept); else backing
        # off, so the old one is not kept busy with empty connections.
        self._retry_at = now + (protocol.PROBE_RETAKE_AFTER if self._took_listener() else min(
            protocol.PROBE_RETAKE_MAX, protocol.PROBE_RETAKE_AFTER * 2 ** min(self._retakes, 10)))

    def _took_listener(self):
        """Whether the new process holds its own copy of the listener (looked up now, until it
        does): it is about to accept."""
        if not self._gated:
            self._gated = owner.took_listener(self._pid, self.listener_inode)
        return self._gated

    def _finish(self, outcome):
        target = self.target
        self.drop()
        return target, outcome

    def _drain(self, readable, now):
        for conn in list(self._draining):
            if (conn.fileno() in readable and conn.drained()) or now >= conn.drain_until:
                conn.close()
                self._draining.remove(conn)
