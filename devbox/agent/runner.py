"""The agent: one process per project that serves it and watches it, `devbox up`'s watcher and
reloader, in the foreground or detached (the same code either way).

Its life: take the project's lock (lock.py; a second agent for the project stops here), listen
on the control socket, serve the project (any interfaces.Project: a single container, a compose
project, on a local or a remote engine, healed from the engine's events), run the watcher until
Ctrl-C, SIGTERM or a `stop` request; then stop what it started, close the socket and exit.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Callable, List, Optional

from devbox import events
from devbox.agent import progress as progress_
from devbox.agent.bus import EventBus, Record
from devbox.agent.home import AgentHome
from devbox.agent.lock import AgentLock
from devbox.agent.server import ControlServer
from devbox.errors import DevboxError
from devbox.interfaces import Project, Serving
from devbox.status import AgentStatus
from devbox.supervisor import protocol

# Records after which the cached container rows are read again (off the reload's path).
_STATUS_TRIGGERS = {events.SERVING, events.CONTAINER_EXITED, events.CONTAINER_STARTED, events.CONTAINER_RESTARTED,
                    events.REBUILT, events.CONFIG_APPLIED}
STATUS_MIN_INTERVAL_S = 0.2
ROWS_TIMEOUT_S = 3.0  # the longest a status request waits for rows being read
# Rows older than this are read again for a status request: what the supervisor changes on its
# own (the warm template's set-up falling back to each child) raises no event the agent sees.
ROWS_MAX_AGE_S = 2.0
ACTIONS = ("reload", "rebuild", "restart")  # the dashboard's buttons


class AgentRunning(DevboxError):
    """Another agent holds the project's lock."""

    def __init__(self, home: AgentHome):
        info = home.read_info()
        super().__init__(f"an agent already runs for this project (pid {info.get('pid', '?')})",
                         "`devbox down` stops it")
        self.info = info


class Agent:
    def __init__(self, home: AgentHome, open_project: Callable[[Callable[..., None]], Project], bus: EventBus,
                 detached: bool = False, name: str = "", config_path: str = "", dashboard_port: Optional[int] = 0):
        self.home = home
        self.name = name
        self.open_project = open_project
        self.bus = bus
        self.detached = detached
        self.config_path = config_path
        self.progress = progress_.Progress()
        self.started_at = time.time()
        self.project: Optional[Project] = None
        self.serving: Optional[Serving] = None
        self.rows: List[dict] = []
        self.rows_at = 0.0
        self.engine_url: Optional[str] = None
        self.live: dict = {}  # label -> the URL of its live-reload proxy (devbox/live/)
        self._waiters = 0
        self._waiters_lock = threading.Lock()
        self._refresh = threading.Event()
        self._rows_cond = threading.Condition()
        self._rows_wanted = self._rows_done = 0
        self._stopping = threading.Event()
        self.dashboard_port = dashboard_port  # None: no dashboard (a test's agent); 0: a free port
        self.dashboard = None
        bus.add_reader(self.progress)
        bus.add_reader(self._on_record)

    # -- the life ------------------------------------------------------------------------------
    def run(self) -> None:
        """Serve and watch until stopped; raises AgentRunning, or the DevboxError that kept
        the project from serving (reported as AGENT_FAILED first)."""
        self.home.ensure()
        lock = AgentLock(self.home.lock)
        if not lock.acquire():
            raise AgentRunning(self.home)
        server = None
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            server = ControlServer(self.home.socket, self.bus, self._handlers()).start()
            self.home.write_info(self.hello({}))
            self.bus(events.AGENT_STARTED, pid=os.getpid(), socket=str(self.home.socket),
                     log=str(self.home.log) if self.detached else None, detached=self.detached)
            self._start_dashboard()
            self._serve_and_watch()
        except KeyboardInterrupt:
            if self.serving is None:  # stopped while starting: serve cleaned up; exit as interrupted
                raise
        except DevboxError as exc:
            self.bus(events.AGENT_FAILED, error=str(exc))
            raise
        finally:
            signal.signal(signal.SIGTERM, previous)
            try:
                self._stop_serving()
            finally:
                if self.dashboard is not None:
                    self.dashboard.close()
                if server is not None:
                    server.close()
                lock.release()

    def _serve_and_watch(self) -> None:
        self.project = self.open_project(self.bus)
        self.serving = self.project.serve(watch=True)
        watcher = self.serving.watcher
        self._wire(watcher)
        self.bus(events.SERVING, urls={label or "": urls for label, urls in self.serving.urls.items()},
                 unsupervised=self.serving.unsupervised, detached=self.detached,
                 log=str(self.home.log) if self.detached else None, pid=os.getpid(),
                 dashboard=self.dashboard.url if self.dashboard is not None else None)
        self.start_status_loop()
        engine = getattr(self.project, "engine", None)  # connected by now: serve needed it
        self.engine_url = engine.url if engine is not None else None
        self.bus(events.WATCHING, paths=watcher.rel_paths, files=watcher.start())
        if not self._stopping.is_set():
            watcher.run()

    def _wire(self, watcher) -> None:
        act = watcher.on_batch

        def on_batch(batch):
            self.bus(events.BATCH, action=batch.action, changed=batch.changed, deleted=batch.deleted)
            act(batch)

        watcher.on_batch = on_batch
        watcher.on_quiet = self.progress.at_quiet
        with self._waiters_lock:
            if self._waiters:
                watcher.hurry_up()

    def _stop_serving(self) -> None:
        """Stop what serve started (or, stopped while starting, whatever runs), then say so:
        AGENT_STOPPED is the last record every reader gets."""
        self.stop_status_loop()
        seconds = None  # nothing served: nothing to stop
        if self.serving is not None:
            if self.serving.watcher is not None:
                self.serving.watcher.stop_event.set()
            seconds = self.serving.stop()
            self.serving = None
        self.bus(events.AGENT_STOPPED, seconds=seconds)

    # -- the container rows `devbox status` shows, kept fresh off the reload's path -------------
    def _on_record(self, record: Record) -> None:
        if record["event"] == events.LIVE_PROXY:
            self.live[str(record.get("service") or "")] = str(record.get("url"))
        if record["event"] in _STATUS_TRIGGERS or (
                record["event"] == events.SUPERVISOR and record.get("kind") in (protocol.EVENT_READY,
                                                                               protocol.EVENT_CRASHED)):
            with self._rows_cond:
                self._rows_wanted += 1
            self._refresh.set()

    def start_status_loop(self) -> threading.Thread:
        """The thread that reads the rows again after each event that changes them."""
        thread = threading.Thread(target=self._status_loop, name="status", daemon=True)
        thread.start()
        return thread

    def stop_status_loop(self) -> None:
        """Ends the status thread (and says the agent is stopping: nothing waits for rows then)."""
        self._stopping.set()
        self._refresh.set()

    def _status_loop(self) -> None:
        while not self._stopping.is_set():
            self._refresh.wait()
            self._refresh.clear()
            with self._rows_cond:
                wanted = self._rows_wanted
            try:
                rows = [row.to_dict() for row in self.project.status()]
            except Exception:  # noqa: BLE001 - the engine may be gone; the next trigger retries
                rows = None
            with self._rows_cond:
                if rows is not None:
                    self.rows, self.rows_at = rows, time.time()
                self._rows_done = wanted
                self._rows_cond.notify_all()
            self._stopping.wait(STATUS_MIN_INTERVAL_S)

    def fresh_rows(self, timeout: float = ROWS_TIMEOUT_S) -> List[dict]:
        """The container rows, once they have been read since the last event that changed them
        (a reload, a restart) and within ROWS_MAX_AGE_S: at once unless one just happened or
        nobody asked for a while."""
        deadline = time.monotonic() + timeout
        with self._rows_cond:
            if self.serving is not None and time.time() - self.rows_at > ROWS_MAX_AGE_S:
                self._rows_wanted += 1
                self._refresh.set()
            wanted = self._rows_wanted
            while self._rows_done < wanted and not self._stopping.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._rows_cond.wait(remaining)
            return self.rows

    # -- control requests ----------------------------------------------------------------------
    def _handlers(self):
        return {"hello": self.hello, "status": self.status, "wait": self.wait, "stop": self.stop}

    def hello(self, request: dict) -> dict:
        from devbox import __version__

        return {"pid": os.getpid(), "project": self.name, "started_at": self.started_at, "version": __version__,
                "config": self.config_path, "log": str(self.home.log) if self.detached else None,
                "detached": self.detached}

    def status(self, request: dict) -> dict:
        stats = self.progress.stats()
        agent = AgentStatus(pid=os.getpid(), started_at=self.started_at, detached=self.detached,
                            log=str(self.home.log) if self.detached else None, socket=str(self.home.socket),
                            serving=self.progress.serving, reloads=stats["reloads"],
                            reload_p50_ms=stats["reload_p50_ms"], failure=stats["failure"], engine=self.engine_url,
                            live=dict(self.live),
                            dashboard=self.dashboard.url if self.dashboard is not None else None)
        return {"project": self.name, "agent": agent.to_dict(), "containers": self.fresh_rows(),
                "containers_at": self.rows_at}

    def wait(self, request: dict) -> dict:
        timeout = float(request.get("timeout") or 60.0)
        watcher = self.serving.watcher if self.serving is not None else None
        with self._waiters_lock:
            self._waiters += 1
            if watcher is not None:
                watcher.hurry_up()
        try:
            return self.progress.wait(watcher.polls if watcher is not None else 0, timeout)
        finally:
            with self._waiters_lock:
                self._waiters -= 1
                watcher = self.serving.watcher if self.serving is not None else None
                if not self._waiters and watcher is not None:
                    watcher.hurry.clear()

    # -- the dashboard (devbox/dashboard/) --------------------------------------------------------
    def _start_dashboard(self) -> None:
        if self.dashboard_port is None:
            return
        from devbox.dashboard.server import Dashboard

        self.dashboard = Dashboard(self.bus, status=lambda: self.status({}), act=self.act,
                                   hello=lambda: self.hello({}), port=self.dashboard_port).start()
        self.bus(events.DASHBOARD_STARTED, address=self.dashboard.address, port=self.dashboard.port)

    def act(self, action: str, service: str = "") -> dict:
        """A dashboard button: `action` (reload, rebuild, restart) for the compose service
        `service` (its label; "" for every one, or the single container), acted on by the
        watcher in turn with the saves. Said first (DASHBOARD_ACTION), so the page shows it."""
        from devbox.actions import Action
        from devbox.batch import Batch
        from devbox.dashboard.server import ActionRefused

        if action not in ACTIONS:
            raise ActionRefused(f"unknown action {action!r} (known: {', '.join(ACTIONS)})")
        watcher = self.serving.watcher if self.serving is not None else None
        if watcher is None:
            raise ActionRefused("the project is not serving yet")
        labels = {str(row.get("name")) for row in self.rows if row.get("supervised") is not False}
        if service and service not in labels:
            raise ActionRefused(f"no supervised service {service!r} (supervised: {', '.join(sorted(labels)) or 'none'})")
        compose = getattr(getattr(self.project, "config", None), "compose", None) is not None
        if not compose:
            service = ""  # the single container's row is named for the project
        self.bus(events.DASHBOARD_ACTION, service=service or None, action=action)
        now = time.time()
        # A replica's label (web.2) names its service's containers (web): compose acts per service.
        services = [service.partition(".")[0]] if service else []
        watcher.ask(Batch(action=Action(action), changed=[], t0=now, at=now, services=services))
        return {"queued": action, "service": service}

    def stop(self, request: dict) -> dict:
        """Stop from another thread: the main thread gets SIGTERM, as from `kill`, and stops
        wherever it is (serving, building, watching) the way Ctrl-C stops `devbox up`."""
        self.stop_status_loop()
        os.kill(os.getpid(), signal.SIGTERM)
        return {"pid": os.getpid()}


def _interrupt(signum, frame):
    raise KeyboardInterrupt
