"""Starting children: fork, own process group, default signals, the listening socket as fd 3,
exec. The supervisor loop only calls a spawner's `app()` and `errorpage()`; ExecSpawner starts a
fresh interpreter or command for each. A warm-fork strategy (fork a template that has already
imported the app's dependencies) would be another class with the same two methods.
"""

import fcntl
import json
import os
import signal
import socket
import sys

from devbox.supervisor import prctl, protocol

# The directory that holds the devbox package: the child imports its own code from here, so the
# copy under /opt/devbox works without PYTHONPATH.
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# First on sys.path while the child imports itself (a project may have its own `devbox`
# package); the child then steps aside, see child.main.
_BOOTSTRAP = ("import sys; sys.path.insert(0, %r); "
              "from devbox.supervisor.child import main; sys.exit(main(sys.argv[1:]))")

ROLE_APP = "app"
ROLE_ERRORPAGE = "errorpage"

_DUPFD_CLOEXEC = getattr(fcntl, "F_DUPFD_CLOEXEC", 1030)


def child_argv(python, args):
    """Command line of the wsgiref child (python -c, so the cwd stays sys.path[0])."""
    return [python, "-c", _BOOTSTRAP % PACKAGE_ROOT] + [str(a) for a in args]


class SpawnError(Exception):
    """exec failed (command not found, not executable...); the message says which and why."""


class ExecSpawner:
    """Start each child by fork + exec.

    The child gets its own process group (so a stop reaches its whole tree), default signal
    dispositions and an empty signal mask, the contract's environment, the listening socket as
    fd 3 (LISTEN_PID set after fork, to the child's own pid) and, for the wsgiref child, a control
    socket as fd 4. With prctl it also dies with the supervisor.
    """

    def __init__(self, options, listen_sock, lock_file, python=None):
        self.options = options
        self.listen_sock = listen_sock
        self.python = python or sys.executable
        self._parent_pid = os.getpid()
        self._pdeathsig = signal.SIGKILL if prctl.load() else None
        env = dict(os.environ)
        env[protocol.ENV_CHILD] = protocol.CHILD_VALUE
        env[protocol.ENV_LOCK_FILE] = lock_file
        env[protocol.ENV_BOTTLE_LOCKFILE] = lock_file
        env[protocol.ENV_UNBUFFERED] = "1"
        for name in (protocol.ENV_LISTEN_FD, protocol.ENV_LISTEN_FDS, protocol.ENV_LISTEN_PID,
                     protocol.ENV_CONTROL_FD):
            env.pop(name, None)
        self._env = env

    @property
    def holds_socket(self):
        """True when children share the supervisor's socket, so a new one may start while the old
        one drains; otherwise the old one must release the port first."""
        return self.listen_sock is not None

    @property
    def reports_ready(self):
        """True when the app child says when it serves; a command cannot."""
        return bool(self.options.app)

    def app(self, generation):
        """Start the app child of this generation; returns (pid, control socket or None)."""
        if self.options.app:
            args = ["--app", self.options.app] + self._server_args()
            if self.options.poll_modules:
                args.append("--poll-modules")
            return self._spawn(child_argv(self.python, args), control=True)
        return self._spawn(list(self.options.command), control=False)

    def errorpage(self, report):
        """Start a server that answers every request with the error page for `report`."""
        args = ["--errorpage", json.dumps(report)] + self._server_args()
        return self._spawn(child_argv(self.python, args), control=True)

    def _server_args(self):
        o = self.options
        return ["--host", o.host, "--port", o.port, "--interval", o.interval, "--grace", o.grace]

    def _spawn(self, argv, control):
        env = dict(self._env)
        fds = {}
        if self.listen_sock is not None:
            # The non-blocking flag lives on the shared socket: a previous child may have cleared
            # it, and the wsgiref child relies on it to never hang in accept().
            self.listen_sock.setblocking(False)
            fds[protocol.LISTEN_FD] = self.listen_sock.fileno()
            env[protocol.ENV_LISTEN_FD] = str(protocol.LISTEN_FD)
            env[protocol.ENV_LISTEN_FDS] = "1"
        ours = theirs = None
        if control:
            ours, theirs = socket.socketpair()
            ours.setblocking(False)
            fds[protocol.CONTROL_FD] = theirs.fileno()
            env[protocol.ENV_CONTROL_FD] = str(protocol.CONTROL_FD)
        err_r, err_w = os.pipe()  # close-on-exec: EOF means exec succeeded
        pid = os.fork()
        if pid == 0:
            self._exec(argv, env, fds, err_w)
        os.close(err_w)
        if theirs is not None:
            theirs.close()
        try:
            os.setpgid(pid, pid)  # also done in the child: whoever runs first wins the race
        except OSError:
            pass
        failure = _read_to_eof(err_r)
        if failure:
            os.waitpid(pid, 0)
            if ours is not None:
                ours.close()
            raise SpawnError(failure.decode("utf-8", "replace"))
        return pid, ours

    def _exec(self, argv, env, fds, err_w):
        """In the forked child: set up and exec; never returns."""
        try:
            os.setpgid(0, 0)
            signal.set_wakeup_fd(-1)
            for signum in signal.valid_signals():
                if signum not in (signal.SIGKILL, signal.SIGSTOP):
                    try:
                        signal.signal(signum, signal.SIG_DFL)
                    except (OSError, ValueError, RuntimeError):
                        pass
            signal.pthread_sigmask(signal.SIG_SETMASK, [])
            if self._pdeathsig is not None:
                prctl.set_parent_death_signal(self._pdeathsig, self._parent_pid)
            # Move sources out of the way first, so placing one cannot clobber another; dup2
            # leaves the target inheritable (dup2(3, 3) would not: it keeps close-on-exec).
            high = [(target, fcntl.fcntl(src, _DUPFD_CLOEXEC, 10)) for target, src in fds.items()]
            for target, src in high:
                os.dup2(src, target)
            if protocol.LISTEN_FD in fds:
                env[protocol.ENV_LISTEN_PID] = str(os.getpid())
            os.execvpe(argv[0], argv, env)
        except BaseException as exc:  # noqa: BLE001 - whatever it is, report it and leave
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            try:
                os.write(err_w, ("cannot run %s: %s" % (argv[0], reason)).encode("utf-8"))
            finally:
                os._exit(127)


def _read_to_eof(fd):
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except InterruptedError:
            continue
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)
