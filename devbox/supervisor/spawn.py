"""Starting children by fork + exec: own process group, default signals, the contract's
environment, the listening socket as fd 3. `spawn()` starts one process. ExecSpawner, the
interfaces.Spawner that starts a fresh interpreter or command for each child, uses it for every
child; warm.WarmSpawner uses it to start its template.
"""

import fcntl
import json
import os
import signal
import socket
import sys

from devbox.supervisor import commands, prctl, protocol
from devbox.supervisor.interfaces import SpawnError, Spawner
from devbox.supervisor.primitives import read_to_eof

# The directory that holds the devbox package: the child imports its own code from here, so the
# copy under /opt/devbox works without PYTHONPATH.
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Not the template's: it sets them in each child it forks.
_CHILD_ONLY_ENV = (protocol.ENV_CHILD, protocol.ENV_LOCK_FILE, protocol.ENV_BOTTLE_LOCKFILE)

_DUPFD_CLOEXEC = getattr(fcntl, "F_DUPFD_CLOEXEC", 1030)


def child_argv(python, args, module="child"):
    """Command line of the wsgiref child, or of the warm template with module="template"
    (python -c, so the cwd stays sys.path[0]). PACKAGE_ROOT is first on sys.path while the
    child imports itself; the child then steps aside, see child.main."""
    return [python, "-c", protocol.bootstrap(PACKAGE_ROOT, "devbox.supervisor." + module,
                                             first=protocol.PRIVATE_CACHES)] \
        + [str(a) for a in args]


def child_env(lock_file):
    """The environment of every child: ours, plus the contract's, less the fds of another."""
    env = dict(os.environ)
    env[protocol.ENV_CHILD] = protocol.CHILD_VALUE
    env[protocol.ENV_LOCK_FILE] = lock_file
    env[protocol.ENV_BOTTLE_LOCKFILE] = lock_file
    env[protocol.ENV_UNBUFFERED] = "1"
    for name in (protocol.ENV_LISTEN_FD, protocol.ENV_LISTEN_FDS, protocol.ENV_LISTEN_PID,
                 protocol.ENV_CONTROL_FD):
        env.pop(name, None)
    return env


def template_env(lock_file):
    """The environment of a warm template: the children's, less what is each child's own."""
    return {k: v for k, v in child_env(lock_file).items() if k not in _CHILD_ONLY_ENV}


def server_args(options):
    """The wsgiref child's server options, from the supervisor's."""
    o = options
    return ["--host", o.host, "--port", o.port, "--interval", o.interval, "--grace", o.grace]


def spawn(argv, env, listen_sock=None, control=False, control_type=socket.SOCK_STREAM,
          systemd_fds=True):
    """Fork and exec `argv` with `env`: (pid, our end of its control socket or None).

    The child gets its own process group (so a stop reaches its whole tree), default signal
    dispositions and an empty signal mask, `listen_sock` as fd 3 (with `systemd_fds`, LISTEN_FDS
    and LISTEN_PID, set after fork to the child's own pid) and, with `control`, a socketpair as
    fd 4. With prctl it also dies with us. Raises SpawnError when exec fails.
    """
    env = dict(env)
    fds = {}
    if listen_sock is not None:
        # The non-blocking flag lives on the shared socket: a previous child may have cleared
        # it, and the wsgiref child relies on it to never hang in accept().
        listen_sock.setblocking(False)
        fds[protocol.LISTEN_FD] = listen_sock.fileno()
        env[protocol.ENV_LISTEN_FD] = str(protocol.LISTEN_FD)
        if systemd_fds:
            env[protocol.ENV_LISTEN_FDS] = "1"
    ours = theirs = None
    if control:
        ours, theirs = socket.socketpair(socket.AF_UNIX, control_type)
        ours.setblocking(False)
        fds[protocol.CONTROL_FD] = theirs.fileno()
        env[protocol.ENV_CONTROL_FD] = str(protocol.CONTROL_FD)
    death_signal = signal.SIGKILL if prctl.load() else None
    parent_pid = os.getpid()
    err_r, err_w = os.pipe()  # close-on-exec: EOF means exec succeeded
    pid = os.fork()
    if pid == 0:
        _exec(argv, env, fds, err_w, death_signal, parent_pid)
    os.close(err_w)
    if theirs is not None:
        theirs.close()
    try:
        os.setpgid(pid, pid)  # also done in the child: whoever runs first wins the race
    except OSError:
        pass
    failure = read_to_eof(err_r)
    if failure:
        os.waitpid(pid, 0)
        if ours is not None:
            ours.close()
        raise SpawnError(failure.decode("utf-8", "replace"))
    return pid, ours


def _exec(argv, env, fds, err_w, death_signal, parent_pid):
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
        if death_signal is not None:
            prctl.set_parent_death_signal(death_signal, parent_pid)
        # Move sources out of the way first, so placing one cannot clobber another; dup2
        # leaves the target inheritable (dup2(3, 3) would not: it keeps close-on-exec).
        high = [(target, fcntl.fcntl(src, _DUPFD_CLOEXEC, 10)) for target, src in fds.items()]
        for target, src in high:
            os.dup2(src, target)
        if protocol.ENV_LISTEN_FDS in env:
            env[protocol.ENV_LISTEN_PID] = str(os.getpid())
        os.execvpe(argv[0], argv, env)
    except BaseException as exc:  # noqa: BLE001 - whatever it is, report it and leave
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        try:
            os.write(err_w, ("cannot run %s: %s" % (argv[0], reason)).encode("utf-8"))
        finally:
            os._exit(127)


class ExecSpawner(Spawner):
    """Start each child by fork + exec (a cold start: every import happens again)."""

    def __init__(self, options, listen_sock, lock_file, python=None):
        self.options = options
        self.listen_sock = listen_sock
        self.python = python or sys.executable
        prctl.load()  # ctypes now, once, rather than after every fork
        self._env = child_env(lock_file)

    @property
    def holds_socket(self):
        return self.listen_sock is not None

    @property
    def reports_ready(self):
        return bool(self.options.app)

    def app(self, generation):
        if self.options.app:
            args = ["--app", self.options.app] + server_args(self.options)
            if self.options.poll_modules:
                args.append("--poll-modules")
            return self._spawn(child_argv(self.python, args), control=True)
        command = list(self.options.command)
        project_dir = self.options.project_dir or os.getcwd()
        return spawn(command, commands.command_env(self._env, self.holds_socket, project_dir),
                     self.listen_sock, systemd_fds=commands.systemd_fds(command))

    def errorpage(self, report):
        args = ["--errorpage", json.dumps(report)] + server_args(self.options)
        return self._spawn(child_argv(self.python, args), control=True)

    def describe(self):
        return {"warm": False}

    def _spawn(self, argv, control):
        return spawn(argv, self._env, self.listen_sock, control=control)
