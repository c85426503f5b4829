"""The supervisor loop: holds the socket, beats the heartbeat, spawns, respawns, stops, reaps.

Single-threaded and event-driven: signal handlers only record the signal (the wakeup fd wakes
the loop), children report on their control sockets, and the only timers are the heartbeat and
the SIGKILL deadlines. A reload never waits on a timer: SIGHUP and exit status 3 spawn the next
child at once (while the old one drains, when the children share our socket).
"""

import json
import os
import platform
import select
import signal
import socket
import sys
import time

from devbox.supervisor import errorpage, prctl, protocol
from devbox.supervisor.spawn import ROLE_APP, ROLE_ERRORPAGE, SpawnError
from devbox.supervisor.status import write_status

_RELOAD_SIGNAL = getattr(signal, protocol.RELOAD_SIGNAL)
_STOP_SIGNALS = tuple(getattr(signal, name) for name in protocol.STOP_SIGNALS)


def bind_listener(host, port, backlog=1024):
    """The socket every child serves on. Bound once, so a reload never closes it: connections
    that arrive while no child accepts wait in the backlog instead of being refused."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def format_address(host, port):
    if port is None:
        return "none"
    return "[%s]:%s" % (host, port) if ":" in host else "%s:%s" % (host, port)


class Child:
    """A child we started and have not reaped yet."""

    def __init__(self, pid, control, role, generation, requested_at):
        self.pid = pid
        self.control = control  # our end of its control socket, or None
        self.role = role
        self.generation = generation
        self.requested_at = requested_at  # monotonic time of the request that started it
        self.ready = False
        self.report = None  # crash report it sent
        self.reload_reason = None  # why it is about to exit 3, if it said
        self.kill_at = None  # SIGKILL deadline once it was asked to stop
        self._buffer = b""

    def read_messages(self):
        """Complete lines received so far (non-blocking); closes the control socket at EOF."""
        if self.control is None:
            return []
        while True:
            try:
                data = self.control.recv(65536)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                data = b""
            if not data:
                self.control.close()
                self.control = None
                break
            self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        return [line.decode("utf-8", "replace") for line in lines]


class Supervisor:
    """Runs children until SIGTERM/SIGINT; see protocol.py for the contract it keeps."""

    def __init__(self, options, spawner, heartbeat, out=None, clock=time.monotonic):
        self.options = options
        self.spawner = spawner
        self.heartbeat = heartbeat
        self.out = out or sys.stdout
        self.clock = clock
        self.children = {}  # pid -> Child
        self.current = None  # the child that serves (or will), None while crashed and dead
        self.generation = 0
        self.state = protocol.STATE_STARTING
        self.reloads = 0
        self.latencies = []
        self.started_at = time.time()
        self.ready_at = None
        self.stopping_since = None
        self._pending_spawn = None  # request time of a spawn waiting for the port to be free
        self._signals = []

    # -- the loop ---------------------------------------------------------------------------

    def run(self):
        """Serve until stopped; returns the exit status (0)."""
        start = self.clock()
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        for signum in (_RELOAD_SIGNAL, signal.SIGCHLD) + _STOP_SIGNALS:
            signal.signal(signum, self._record)
        prctl.set_child_subreaper()
        self.heartbeat.start()
        try:
            self._announce()
            self._spawn_app(start)
            while self.stopping_since is None or self.children:
                self._wait(wake_r)
                self._handle_signals()
                self.heartbeat.beat()
                self._enforce_deadlines()
        finally:
            for child in self.children.values():
                _kill_group(child.pid, signal.SIGKILL)
            self.heartbeat.remove()
            signal.set_wakeup_fd(-1)
            os.close(wake_r)
            os.close(wake_w)
        elapsed = self.clock() - (self.stopping_since or self.clock())
        self.current = None
        self._write_status()
        self._emit(protocol.EVENT_STOPPED, ms=_ms(elapsed))
        return 0

    def _record(self, signum, frame):
        self._signals.append((signum, self.clock()))

    def _wait(self, wake_r):
        by_fd = {c.control.fileno(): c for c in self.children.values() if c.control is not None}
        deadlines = [c.kill_at for c in self.children.values() if c.kill_at is not None]
        timeout = self.heartbeat.seconds_until_due()
        if deadlines:
            timeout = max(0.0, min([timeout] + [d - self.clock() for d in deadlines]))
        readable, _, _ = select.select([wake_r] + list(by_fd), [], [], timeout)
        for fd in readable:
            if fd == wake_r:
                _drain(wake_r)
            else:
                self._read_control(by_fd[fd])

    def _handle_signals(self):
        pending, self._signals = self._signals, []
        if any(signum == signal.SIGCHLD for signum, _ in pending):
            self._reap()
        stops = [(signum, at) for signum, at in pending if signum in _STOP_SIGNALS]
        reloads = [at for signum, at in pending if signum == _RELOAD_SIGNAL]
        for signum, at in stops:
            self._stop(signum, at)
        if reloads and not stops:
            # SIGHUPs that arrived together are one reload: one spawn, timed from the first.
            self._reload(protocol.REASON_SIGHUP, reloads[0])

    def _enforce_deadlines(self):
        now = self.clock()
        for child in self.children.values():
            if child.kill_at is not None and now >= child.kill_at:
                self._log("pid %d did not stop within %ss: SIGKILL"
                          % (child.pid, self.options.grace))
                _kill_group(child.pid, signal.SIGKILL)
                child.kill_at = float("inf")

    # -- children ---------------------------------------------------------------------------

    def _spawn_app(self, requested_at):
        self._pending_spawn = None
        self.generation += 1
        self.state = protocol.STATE_STARTING
        try:
            pid, control = self.spawner.app(self.generation)
        except SpawnError as exc:
            report = errorpage.report_from_status(127, self._what())
            report.update(title=str(exc), summary=str(exc))
            self._crashed(self.generation, 127, report, serve_error=True)
            return
        child = Child(pid, control, ROLE_APP, self.generation, requested_at)
        self.children[pid] = child
        self.current = child
        if self.spawner.reports_ready:
            self._write_status()
        else:
            self._ready(child)  # a command cannot tell us; it runs, that is all we know

    def _spawn_errorpage(self, report):
        if self.options.port is None:
            return  # no port known: nothing to serve the page on
        try:
            pid, control = self.spawner.errorpage(report)
        except SpawnError as exc:
            self._log("cannot serve the error page: %s" % exc)
            return
        child = Child(pid, control, ROLE_ERRORPAGE, self.generation, self.clock())
        self.children[pid] = child
        self.current = child

    def _read_control(self, child):
        for line in child.read_messages():
            kind, _, rest = line.partition(" ")
            if kind == protocol.MSG_READY:
                if child is self.current and child.role == ROLE_APP and not child.ready:
                    self._ready(child)
            elif kind == protocol.MSG_CRASHED:
                child.report = json.loads(rest)
                if child is self.current and child.role == ROLE_APP:
                    child.ready = True  # it serves the error page; no ready line will follow
                    self._crashed(child.generation, protocol.STATUS_STARTUP, child.report)
            elif kind == protocol.MSG_RELOAD:
                child.reload_reason = rest or None

    def _ready(self, child):
        child.ready = True
        ms = _ms(self.clock() - child.requested_at)
        if child.generation > 1:
            self.latencies = (self.latencies + [ms])[-protocol.RELOAD_HISTORY:]
        self.state = protocol.STATE_SERVING
        self.ready_at = time.time()
        self._emit(protocol.EVENT_READY, generation=child.generation, pid=child.pid, ms=ms)
        self._write_status()

    def _crashed(self, generation, status, report, serve_error=False):
        self.state = protocol.STATE_CRASHED
        self._emit(protocol.EVENT_CRASHED, report.get("summary"), generation=generation,
                   status=status)
        self._write_status()
        if serve_error:
            self._spawn_errorpage(report)

    def _reap(self):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = self.children.pop(pid, None)
            if child is not None:  # else an orphan we adopted as PID 1 / subreaper
                _kill_group(pid, signal.SIGKILL, leader_alive=False)  # what it left behind
                self._child_exited(child, _exit_status(status))

    def _child_exited(self, child, status):
        self._read_control(child)  # a last "reload poll" or crash report
        if child.control is not None:
            child.control.close()
            child.control = None
        if child is not self.current:
            if self._pending_spawn is not None and not self.children:
                self._spawn_app(self._pending_spawn)  # the port is free now
            return
        self.current = None
        if self.stopping_since is not None:
            return
        if child.role == ROLE_ERRORPAGE:
            self._log("the error page server %s; waiting for a reload"
                      % errorpage.describe_status(status))
        elif status == protocol.RELOAD_EXIT_CODE:
            self._reload(child.reload_reason or protocol.REASON_EXIT3, self.clock())
        else:
            report = child.report or errorpage.report_from_status(status, self._what())
            self._crashed(child.generation, status, report, serve_error=True)

    # -- requests from outside --------------------------------------------------------------

    def _reload(self, reason, requested_at):
        if self.stopping_since is not None:
            return
        self.reloads += 1
        self._emit(protocol.EVENT_RELOADING, generation=self.generation + 1, reason=reason)
        old, self.current = self.current, None
        if old is not None:
            self._terminate(old)
        self._pending_spawn = requested_at
        if self.spawner.holds_socket or not self.children:
            self._spawn_app(requested_at)
        else:
            self.state = protocol.STATE_STARTING  # the old child still holds the port
            self._write_status()

    def _stop(self, signum, at):
        if self.stopping_since is not None:
            for child in self.children.values():  # asked twice: do not wait for the grace
                _kill_group(child.pid, signal.SIGKILL)
            return
        self.stopping_since = at
        self._pending_spawn = None
        self.state = protocol.STATE_STOPPING
        self._emit(protocol.EVENT_STOPPING, signal=signal.Signals(signum).name)
        self._write_status()
        for child in self.children.values():
            self._terminate(child)

    def _terminate(self, child):
        """SIGTERM to the child's process group; SIGKILL when the grace period is over."""
        if child.kill_at is None:
            _kill_group(child.pid, signal.SIGTERM)
            child.kill_at = self.clock() + self.options.grace

    # -- output -----------------------------------------------------------------------------

    def _announce(self):
        o = self.options
        what = "app %s" % o.app if o.app else "command %s" % " ".join(o.command)
        self._emit(protocol.EVENT_STARTED, what, pid=os.getpid(),
                   python=platform.python_version(), listen=o.listen,
                   address=format_address(o.host, o.port))

    def _what(self):
        if self.options.app:
            return "the app %s" % self.options.app
        return "the command `%s`" % " ".join(self.options.command)

    def _emit(self, kind, message=None, **fields):
        self._write(protocol.format_event(kind, message, **fields))

    def _log(self, message):
        self._write(protocol.log_line(message))

    def _write(self, line):
        try:
            self.out.write(line + "\n")
            self.out.flush()
        except (OSError, ValueError):
            pass  # nobody reads our output any more; keep supervising

    def _write_status(self):
        o = self.options
        status = {
            "supervisor_pid": os.getpid(),
            "child_pid": self.current.pid if self.current is not None else None,
            "generation": self.generation,
            "state": self.state,
            "reloads": self.reloads,
            "started_at": self.started_at,
            "ready_at": self.ready_at,
            "last_reload_ms": self.latencies,
            "python": platform.python_version(),
            "listen": o.listen,
            "address": format_address(o.host, o.port),
        }
        if o.app:
            status["app"] = o.app
        else:
            status["command"] = list(o.command)
        try:
            write_status(o.status_file, status)
        except OSError as exc:
            self._log("cannot write the status file %s: %s" % (o.status_file, exc))


def _kill_group(pid, signum, leader_alive=True):
    """Signal the process group a child leads. The leader alone when it left its group (setsid);
    never after it was reaped, when its pid may already be someone else's."""
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        if leader_alive:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass
    except PermissionError:
        pass


def _exit_status(status):
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _ms(seconds):
    return int(round(seconds * 1000))


def _drain(fd):
    try:
        while os.read(fd, 4096):
            pass
    except (BlockingIOError, InterruptedError):
        pass
