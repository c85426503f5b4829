"""Where the watcher's actions go: a supervisor in a container, or one running natively.

Both read the supervisor's events from its output (a LogStream) to know when the new child
serves, and report one line per action.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable, Optional

from devbox import events, filters, local_pid, logs, supervisor_argv
from devbox import plan as planning
from devbox.logs import READY_EVENTS, LogStream, reporting_stream
from devbox.supervisor import protocol
from devbox.actions import Action
from devbox.batch import Batch

RELOAD_TIMEOUT = 60.0


class Target:
    """Common reload bookkeeping; subclasses say how to signal and where events come from."""

    stream: LogStream

    def __init__(self, report: Callable[..., None]):
        self.report = report

    def send_reload(self) -> None:
        raise NotImplementedError

    def act(self, batch: Batch) -> None:
        if batch.action == filters.REBUILD:
            self.rebuild(batch)
        elif batch.action == filters.RELOAD:
            self.reload(batch)
        elif batch.action == filters.SYNC:
            self.sync(batch)
        elif batch.action == Action.RESTART:
            self.restart_container(batch)

    def restart_container(self, batch: Batch) -> None:
        """Restart the container (asked for by hand); serving again when this returns."""
        raise NotImplementedError

    def reload(self, batch: Batch) -> None:
        self.copy(batch)
        mark = self.stream.mark()
        last = self.stream.generation
        self.send_reload()
        sent = time.time()
        event = self.stream.wait_for(READY_EVENTS, after=mark, timeout=RELOAD_TIMEOUT,
                                     match=lambda f: int(f.get("generation", 0) or 0) > last)
        if event is None:
            if not self.stream.ended:  # an ended stream: the container stopped; recovery says so
                self.report(events.RELOAD_TIMEOUT, paths=batch.paths, seconds=RELOAD_TIMEOUT)
            return
        kind, fields, at = event
        # The event's own `ms` is the supervisor's respawn time; `ms` here is edit-to-ready.
        fields = {("supervisor_ms" if key == "ms" else key): value for key, value in fields.items()}
        # The child serves from SIGHUP + the supervisor's own figure (the signal is delivered when
        # the call returns); the event reaches us later, by the log stream's delay. Neither sum
        # mixes the container's clock with ours.
        respawn = float(fields.get("supervisor_ms", 0) or 0) / 1000.0
        ready = min(at, sent + respawn) if kind == protocol.EVENT_READY and respawn else at
        batch.settled_at = ready
        stages = dict(batch_ms=(batch.at - batch.t0) * 1000.0, signal_ms=(sent - batch.at) * 1000.0,
                      log_ms=(at - ready) * 1000.0) if batch.at else {}
        self.report(events.RELOADED if kind == protocol.EVENT_READY else events.RELOAD_FAILED, paths=batch.paths,
                    ms=max(0.0, (ready - batch.t0) * 1000.0), **stages, **fields)

    def sync(self, batch: Batch) -> None:
        self.copy(batch)
        self.report(events.SYNCED, paths=batch.paths)

    def copy(self, batch: Batch) -> None:
        """Copy mode sends the batch's files into the container; a bind mount needs nothing."""

    def rebuild(self, batch: Batch) -> None:
        self.reload(batch)


class ContainerTarget(Target):
    """The supervisor as PID 1 of the project's container, signalled through the Docker API.

    It is also the patient devbox.recovery heals (label ""): the engine's event stream says when
    the container stops underneath, and recovery brings it back through `restart`. Actions and
    healing take turns on `lock`, held by recovery's guard around each batch."""

    def __init__(self, session, container, stream: LogStream, report,
                 on_recreated: Optional[Callable[[object], None]] = None, inspected: bool = False):
        super().__init__(report)
        self.session = session
        self.container = container
        self.stream = stream
        self.copy_mode = planning.sync_mode(session.config, session.facts) == "copy"
        self.on_recreated = on_recreated  # e.g. re-forward ports to the new container
        self._pids: dict = {}  # container id -> its PID 1 as seen from here (0: not visible)
        self._signalled: set = set()  # container ids signalled directly at least once
        self.lock = threading.RLock()
        self._prepare_copy()
        self._host_pid(inspected)  # now, not on the first save (`inspected`: serve read its attrs)

    # -- recovery.Patient ----------------------------------------------------------------------
    def containers(self) -> dict:
        return {"": self.container}

    def following(self, label: str) -> bool:
        return not self.stream.ended

    def refollow(self, label: str) -> None:
        """Restarted by someone else (`docker restart`, a restart policy): its output since then."""
        self.container.reload()
        self._adopt(self.container, logs.follow_run(self.container, self.session.report))

    def restart(self, label: str) -> None:
        """`devbox up` again (the project as it is now), without its image and container lines:
        recovery says what happened, in one."""
        loud = self.session.report
        self.session.report = lambda event, **f: None if event in (events.IMAGE, events.CONTAINER) else loud(event, **f)
        try:
            self._adopt(*self.session.up())
        finally:
            self.session.report = loud

    def bring_back(self) -> None:
        self.restart("")

    def _adopt(self, container, stream: LogStream) -> None:
        """Make `container` (new, or the same one started again) and its stream the target's."""
        old = self.stream
        self.container, self.stream = container, stream
        if old is not stream:
            old.close()
        self._pids.pop(container.id, None)
        self._signalled.discard(container.id)
        self._prepare_copy()
        self._host_pid()
        if self.on_recreated is not None:
            self.on_recreated(self.container)

    def _prepare_copy(self) -> None:
        """Copy mode: open the container's receiver in the background before the first save."""
        if self.copy_mode:
            from devbox import sync

            threading.Thread(target=sync.prepare, args=(self.container, self.session.config), daemon=True,
                             name="receiver").start()

    def send_reload(self) -> None:
        import docker

        if not self._signal_directly():
            try:
                self.container.kill(signal=protocol.RELOAD_SIGNAL)
            except docker.errors.APIError as exc:
                if exc.status_code != 409:  # 409: it stopped just now; recovery brings it back
                    raise

    def _signal_directly(self) -> bool:
        """SIGHUP straight to the supervisor when this machine runs the container and may signal
        it (it runs as the host user by default): ~0.05 ms, where the engine's kill takes ~20 ms
        (it execs `runc kill`). The pid is trusted only while its cgroup names the container."""
        key = self.container.id
        pid = self._host_pid()
        if not pid:
            return False
        try:
            if local_pid.runs_container(pid, key):
                os.kill(pid, signal.SIGHUP)
                self._signalled.add(key)
                return True
        except OSError:  # no such process, or not ours to signal
            pass
        if key in self._signalled:  # it worked before: restarted under a new pid? look again next time
            self._signalled.discard(key)
            del self._pids[key]
        else:
            self._pids[key] = 0  # never: the engine signals this container
        return False

    def _host_pid(self, inspected: bool = False) -> int:
        """The container's PID 1 as this machine sees it (looked up once per container), or 0;
        `inspected`: its attrs were read after its start, and tell it."""
        key = self.container.id
        if key not in self._pids:
            pid = 0
            if not self.session.engine.remote:
                if not inspected:
                    self.container.reload()
                pid = local_pid.host_pid(self.container)
            self._pids[key] = pid
        return self._pids[key]

    def copy(self, batch: Batch) -> None:
        if self.copy_mode:
            from devbox import sync

            from devbox.errors import SyncError

            try:
                sync.send(self.container, self.session.config, batch.changed, batch.deleted)
            except SyncError as exc:  # one bad batch must not end the session; the next save retries
                self.report(events.SYNC_FAILED, paths=batch.paths, error=str(exc))

    def restart_container(self, batch: Batch) -> None:
        """`docker restart`, then follow the new supervisor until it serves (recovery, which
        takes turns with this on `lock`, then finds it running and followed: no fault)."""
        from devbox.stop_timeout import stop_timeout

        with self.lock:
            started = time.monotonic()
            self.container.restart(timeout=stop_timeout(self.session.config.stop_grace))
            self.refollow("")
            self.session.wait_ready(self.container, self.stream, after=0, timeout=RELOAD_TIMEOUT)
            self.report(events.CONTAINER_RESTARTED, name=self.container.name, seconds=time.monotonic() - started)

    def rebuild(self, batch: Batch) -> None:
        self.report(events.REBUILDING, paths=batch.paths)
        started = time.monotonic()
        if self._up(rebuild=True):
            self.report(events.REBUILT, seconds=time.monotonic() - started)
        else:  # the same image: the container stays, and a reload covers whatever the save meant
            self.report(events.REBUILD_UNCHANGED, seconds=time.monotonic() - started)
            self.reload(batch)

    def reconfigure(self, config) -> bool:
        """Run `up` again with a changed devbox.yml; True when that recreated the container (its
        config hash changed: ports, env, image...), False when the running one was kept."""
        with self.lock:
            self.session.config = config
            self.copy_mode = planning.sync_mode(config, self.session.facts) == "copy"
            return self._up()

    def _up(self, rebuild: bool = False) -> bool:
        """session.up(); True when the container was replaced. A kept container's output is
        already being followed, so the second stream `up` opened on it is closed."""
        with self.lock:
            container, stream = self.session.up(rebuild=rebuild)
            if container.id == self.container.id:
                stream.close()
                return False
            self._adopt(container, stream)
            return True


class ProcessTarget(Target):
    """`devbox run`: the same supervisor as a child process of the CLI, on the host."""

    HOST = "127.0.0.1"  # natively, the app is for this machine only

    def __init__(self, config, report, host: str = HOST):
        super().__init__(report)
        self.config = config
        self.status_file = os.path.join(tempfile.gettempdir(), f"devbox-{config.name}-{os.getpid()}.json")
        args = [sys.executable, "-m", "devbox.supervisor",
                *supervisor_argv.for_config(config, port=config.ports[0].host_port if config.ports else None,
                                            host=host, status_file=self.status_file)]
        env = {**os.environ, **config.env_dict(), "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(args, cwd=str(config.root), env=env, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        chunks = iter(lambda: self.process.stdout.read1(65536), b"")
        self.stream = reporting_stream(chunks, report)

    def send_reload(self) -> None:
        self.process.send_signal(signal.SIGHUP)

    def stop(self, timeout: float = 10.0) -> float:
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        try:
            os.unlink(self.status_file)
        except OSError:
            pass
        return time.monotonic() - started

    def wait_ready(self, timeout: float = RELOAD_TIMEOUT) -> Optional[tuple]:
        return self.stream.wait_for(READY_EVENTS, timeout=timeout)
