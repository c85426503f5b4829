"""The supervisor loop: holds the socket, beats the heartbeat, spawns, respawns, stops, reaps.

Single-threaded and event-driven: signal handlers only record the signal (the wakeup fd wakes
the loop), children report on their control sockets, and the only timers are the heartbeat and
the SIGKILL deadlines. A reload never waits on a timer: SIGHUP and exit status 3 spawn the next
child at once.

A command cannot say when it serves: the parent asks it over HTTP (probe.py) and prints ready
when it answers. Without overlap, the probe is sent once no older child is left that could answer
it. With overlap (Linux: owner.py tells who accepted the probe) the old command keeps serving
until the new one answers, and is stopped then, as the ready event is printed.

Overlapped handover (children that share our socket and report ready): the old child keeps
serving while the new one imports the app. Once the new one accepts (ready, or serving its
error page), the old one is told to stop accepting, and the ready (or crashed) event is printed
only when it says it has: after that event, no request reaches old code.
"""

import json
import os
import select
import signal
import sys
import time

from devbox.supervisor import errorpage, prctl, protocol
from devbox.supervisor.children import ROLE_APP, ROLE_ERRORPAGE, Child, exit_status
from devbox.supervisor.interfaces import SpawnError
from devbox.supervisor.primitives import kill_group, renice_group
from devbox.supervisor.readiness import CommandReadiness
from devbox.supervisor.reporting import Reporting

_RELOAD_SIGNAL = getattr(signal, protocol.RELOAD_SIGNAL)
_STOP_SIGNALS = tuple(getattr(signal, name) for name in protocol.STOP_SIGNALS)


class Supervisor(Reporting, CommandReadiness):
    """Runs children until SIGTERM/SIGINT; see protocol.py for the contract it keeps. `spawner`
    is an interfaces.Spawner."""

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
        # Overlap needs a socket both children share and a child that says when it serves.
        self.overlap = bool(getattr(options, "overlap", False) and spawner.holds_socket
                            and spawner.reports_ready)
        self._waiting_for_port = None  # request time of a spawn waiting for the port to be free
        self._spawning = None  # (generation, request time) of a child the spawner delivers later
        self._announce_later = None  # (child, event): once no older child accepts
        self._unknown_exits = {}  # pid -> (status, when): reaped before the spawner named it
        self._signals = []
        self.prober = self._prober()  # for commands
        self.command_overlap = self.prober.overlaps
        self._told_unanswered = False

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
                self._adopt_spawned()
                self._handle_signals()
                self._adopt_spawned()
                self.heartbeat.beat()
                self._enforce_deadlines()
        finally:
            for child in self.children.values():
                kill_group(child.pid, signal.SIGKILL)
            self.spawner.close()
            self.prober.close()
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
        probe_at = self.prober.timeout()
        if probe_at is not None:
            deadlines.append(self.clock() + probe_at)
        if deadlines:
            timeout = max(0.0, min([timeout] + [d - self.clock() for d in deadlines]))
        spawner_fds = self.spawner.fds()
        probe_fds = self.prober.read_fds()
        readable, writable, _ = select.select([wake_r] + list(by_fd) + spawner_fds + probe_fds,
                                              self.prober.write_fds(), [], timeout)
        probed = self.prober.step(readable, writable)
        if probed is not None:
            self._probed(*probed)
        for fd in readable:
            if fd in probe_fds:
                continue
            if fd == wake_r:
                _drain(wake_r)
            elif fd in by_fd:
                self._read_control(by_fd[fd])
            else:
                self.spawner.on_readable(fd)
                self._write_status()  # a template or standby child came or went

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
                kill_group(child.pid, signal.SIGKILL)
                child.kill_at = float("inf")

    # -- children ---------------------------------------------------------------------------

    def _spawn_app(self, requested_at):
        self._waiting_for_port = None
        self.generation += 1
        self.state = protocol.STATE_STARTING
        try:
            started = self.spawner.app(self.generation)
        except SpawnError as exc:
            started = exc
        if started is None:  # the spawner hands it over later (take)
            self._spawning = (self.generation, requested_at)
            self._write_status()
            return
        self._adopt(self.generation, started, requested_at)

    def _adopt_spawned(self):
        for generation, started in self.spawner.take():
            requested_at = self.clock()
            if self._spawning is not None and self._spawning[0] == generation:
                requested_at = self._spawning[1]
                self._spawning = None
            self._adopt(generation, started, requested_at)

    def _adopt(self, generation, started, requested_at):
        """Take charge of the app child the spawner started for `generation` (or its error)."""
        outdated = generation != self.generation or self.stopping_since is not None
        if isinstance(started, SpawnError):
            if not outdated:
                report = errorpage.report_from_status(127, self._what())
                report.update(title=str(started), summary=str(started))
                self._crashed(generation, 127, report, serve_error=True)
            return
        pid, control = started
        child = Child(pid, control, ROLE_APP, generation, requested_at)
        self.children[pid] = child
        if outdated:
            self._terminate(child)  # a newer reload (or a stop) came while it was on its way
        else:
            self.current = child
            if self.spawner.reports_ready:
                self._write_status()
            else:
                self._probe(child)  # a command cannot tell us: ask it
        exited = self._unknown_exits.pop(pid, None)
        if exited is not None and self.clock() - exited[1] < 60:
            del self.children[pid]  # it died before we knew its pid
            self._child_exited(child, exited[0])

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
                if child.role == ROLE_ERRORPAGE:
                    self._accepting(child, None)
                elif child is self.current and not child.ready:
                    child.ready = True
                    self._accepting(child, protocol.EVENT_READY)
            elif kind == protocol.MSG_CRASHED:
                child.report = json.loads(rest)
                if child is self.current and child.role == ROLE_APP and not child.ready:
                    child.ready = True  # it serves the error page; its ready line is not news
                    self._accepting(child, protocol.EVENT_CRASHED)
            elif kind == protocol.MSG_RELOAD:
                if child is self.current and child.ready:
                    self._reload(rest or protocol.REASON_POLL, self.clock())
            elif kind == protocol.MSG_STOPPED:
                self._stopped_accepting(child)
            elif kind == protocol.MSG_MODULES:
                self.spawner.learn(rest.split())
            elif kind == protocol.MSG_SETUP:
                self.spawner.learn_setup(rest)

    def _accepting(self, child, event):
        """`child` serves now. Older children that still accept are told to stop; `event` (ready
        or crashed) is printed once none of them accepts any more."""
        child.accepting = True
        if child.role == ROLE_APP:
            self.spawner.serving()
        older = [c for c in self.children.values() if c is not child and c.accepting]
        for other in older:
            self._terminate(other)
        if event is None:
            return
        if older:
            self._announce_later = (child, event)
        else:
            self._announce_serving(child, event)

    def _stopped_accepting(self, child):
        if not child.accepting:
            return
        child.accepting = False
        if self._announce_later is None:
            return
        waiting, event = self._announce_later
        if waiting is child:  # it went away before it could be announced: nothing to say
            self._announce_later = None
        elif not any(c.accepting for c in self.children.values() if c is not waiting):
            self._announce_later = None
            self._announce_serving(waiting, event)

    def _announce_serving(self, child, event):
        if child is not self.current or self.stopping_since is not None:
            return  # a newer generation took over: its own event says what serves
        if event == protocol.EVENT_READY:
            self._ready(child)
        else:
            self._crashed(child.generation, protocol.STATUS_STARTUP, child.report)

    def _ready(self, child, measured=True):
        child.ready = True
        ms = _ms(self.clock() - child.requested_at)
        if child.generation > 1 and measured:
            self.latencies = (self.latencies + [ms])[-protocol.RELOAD_HISTORY:]
        self.state = protocol.STATE_SERVING
        self.ready_at = time.time()
        self._write_status()  # first: whoever reads the event can read the status it describes
        self._emit(protocol.EVENT_READY, generation=child.generation, pid=child.pid, ms=ms)

    def _crashed(self, generation, status, report, serve_error=False):
        self.state = protocol.STATE_CRASHED
        self._write_status()
        self._emit(protocol.EVENT_CRASHED, report.get("summary"), generation=generation,
                   status=status)
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
            if child is not None:
                kill_group(pid, signal.SIGKILL, leader_alive=False)  # what it left behind
                self._child_exited(child, exit_status(status))
            elif self.spawner.reaped(pid, exit_status(status)):
                self._write_status()  # a template or standby child went
            else:
                # An orphan we adopted as PID 1 / subreaper, or a forked child whose pid the
                # spawner has not told us yet: remember its status for a while.
                now = self.clock()
                self._unknown_exits = {p: e for p, e in self._unknown_exits.items()
                                       if now - e[1] < 60}
                self._unknown_exits[pid] = (exit_status(status), now)

    def _child_exited(self, child, status):
        self._read_control(child)  # a last message or crash report
        if child.control is not None:
            child.control.close()
            child.control = None
        self._stopped_accepting(child)
        if child is self.prober.target:
            self.prober.drop()
        else:
            self._probe_when_alone()  # it may have been the last older child
        if child is not self.current:
            if self._waiting_for_port is not None and not self.children:
                self._spawn_app(self._waiting_for_port)  # the port is free now
            return
        self.current = None
        if self.stopping_since is not None:
            return
        if child.role == ROLE_ERRORPAGE:
            self._log("the error page server %s; waiting for a reload"
                      % errorpage.describe_status(status))
        elif status == protocol.RELOAD_EXIT_CODE:
            self._reload(protocol.REASON_EXIT3, self.clock())
        else:
            for other in list(self.children.values()):
                self._terminate(other)  # overlap: the old command must not serve beside the page
            report = child.report or errorpage.report_from_status(status, self._what())
            self._crashed(child.generation, status, report, serve_error=True)

    # -- requests from outside --------------------------------------------------------------

    def _reload(self, reason, requested_at):
        if self.stopping_since is not None:
            return
        self.reloads += 1
        self._emit(protocol.EVENT_RELOADING, generation=self.generation + 1, reason=reason)
        old, self.current = self.current, None
        self.prober.drop()  # the child it waits for is outdated
        if old is not None and not self._serves_through_reload(old):
            self._terminate(old)  # no overlap, or it does not serve yet: it is outdated
        elif old is not None:
            # It serves until its successor does: the successor gets the CPU first.
            renice_group(old.pid, protocol.OUTGOING_NICENESS)
        self._spawning = None  # a child still on its way is outdated: stopped when it comes
        if self.spawner.holds_socket or not self.children:
            self._spawn_app(requested_at)
        else:
            self._waiting_for_port = requested_at
            self.state = protocol.STATE_STARTING  # the old child still holds the port
            self._write_status()

    def _serves_through_reload(self, child):
        """Overlap: an app child that accepts, or a command that answered, serves until its
        successor does."""
        if self.overlap and child.accepting:
            return True
        return self.command_overlap and child.ready and child.role == ROLE_APP

    def _stop(self, signum, at):
        if self.stopping_since is not None:
            for child in self.children.values():  # asked twice: do not wait for the grace
                kill_group(child.pid, signal.SIGKILL)
            return
        self.stopping_since = at
        self.prober.drop()
        self._waiting_for_port = self._spawning = self._announce_later = None
        self.state = protocol.STATE_STOPPING
        self._emit(protocol.EVENT_STOPPING, signal=signal.Signals(signum).name)
        self._write_status()
        for child in self.children.values():
            self._terminate(child)

    def _terminate(self, child):
        """"stop" on its control socket (reliable even when the app handles SIGTERM itself) and
        SIGTERM to its process group; SIGKILL when the grace period is over."""
        if child.kill_at is None:
            child.send(protocol.MSG_STOP)
            kill_group(child.pid, signal.SIGTERM)
            child.kill_at = self.clock() + self.options.grace


def _ms(seconds):
    return int(round(seconds * 1000))


def _drain(fd):
    try:
        while os.read(fd, 4096):
            pass
    except (BlockingIOError, InterruptedError):
        pass
