"""What devbox does when a container stops underneath it or the engine goes away: the policy.

The detector is devbox.engine_watch (Docker's event stream; nothing polls): it tells that a
project container died or started, that the engine is lost, back, or that its stream broke
and events may be missing. A `Recovery` hears it and heals a `Patient` (one container's target,
or a compose project): an inspect says why a container stopped (its exit status, OOMKilled),
and it is started again as `devbox up` would start it (the project as it is now: copy sync
proves the tree), that container or service only; a lost engine is said once, the ping that
waits for it backs off, and when it answers everything is brought back. Every line the user
reads about it is an event (CONTAINER_STOPPED, CONTAINER_RESTARTED, CONTAINER_DOWN,
ENGINE_LOST, ENGINE_BACK), on the same bus `devbox events` streams.

The watcher's batches go through `Recovery.guard`, so actions and healing take turns on one
lock: a save made while a container is brought back, or while the engine is away, is held and
acted on once it serves again.

A container that keeps dying right after its start is not restarted in a loop: after
`RAPID_DEATHS` deaths, each within `RAPID_UPTIME_S` of its start, devbox says so and waits for a
save, which tries once more.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Protocol

from devbox import events

RAPID_UPTIME_S = 10.0  # a death this soon after a start counts towards giving up
RAPID_DEATHS = 3
ENGINE_BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0)  # then every last one


@dataclass
class Stopped:
    """Why the container is not running, from its inspect State."""

    status: str  # "exited", "dead", "removed"...
    exit_code: Optional[int] = None
    oom: bool = False
    error: str = ""

    @classmethod
    def of_state(cls, state: dict) -> "Stopped":
        return cls(status=state.get("Status") or "exited", exit_code=state.get("ExitCode"),
                   oom=bool(state.get("OOMKilled")), error=(state.get("Error") or "").strip())

    def reason(self) -> str:
        """In words: 'killed by the kernel (out of memory)', 'exit status 137 (SIGKILL)'..."""
        if self.status == "removed":
            return "removed"
        if self.oom:
            return f"killed for using too much memory (OOMKilled, exit status {self.exit_code})"
        if self.exit_code is None:
            return self.error or self.status
        text = f"exit status {self.exit_code}"
        if self.exit_code is not None and self.exit_code > 128:
            import signal

            try:
                text += f" ({signal.Signals(self.exit_code - 128).name})"
            except ValueError:
                pass
        return text + (f": {self.error}" if self.error else "")


class CrashPolicy:
    """Decides whether a container that just died is restarted now."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.started_at = clock()
        self._rapid: List[float] = []

    def started(self) -> None:
        self.started_at = self.clock()

    def died(self) -> bool:
        """Record a death; True to restart now, False to wait for a save."""
        now = self.clock()
        if now - self.started_at > RAPID_UPTIME_S:
            self._rapid.clear()
        self._rapid.append(now)
        return len(self._rapid) < RAPID_DEATHS

    def retry(self) -> None:
        """A save after giving up: the caller starts it once more, and one more rapid death gives
        up again."""
        self._rapid = self._rapid[-(RAPID_DEATHS - 1):]
        self.started()


def engine_lost(exc: BaseException) -> bool:
    """Whether `exc` (from docker-py) means the engine does not answer: a refused, reset or
    vanished connection somewhere down its chain."""
    import requests

    while exc is not None:
        if isinstance(exc, (requests.exceptions.ConnectionError, ConnectionError)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def engine_backoff(attempt: int) -> float:
    """Seconds before the n-th (from 0) ping of an engine that does not answer."""
    return ENGINE_BACKOFF_S[min(attempt, len(ENGINE_BACKOFF_S) - 1)]


class Patient(Protocol):
    """What a Recovery heals: targets.ContainerTarget (label ""), compose.healing's project."""

    def containers(self) -> Dict[str, object]:
        """label -> the container devbox runs there now (docker-py Container)."""

    def following(self, label: str) -> bool:
        """Whether that container's output is still being followed."""

    def refollow(self, label: str) -> None:
        """It runs again (restarted by someone else): follow its new output."""

    def restart(self, label: str) -> None:
        """Bring it back as `devbox up` would (the project as it is now), serving when this
        returns; raises what the engine or devbox said."""

    def bring_back(self) -> None:
        """The engine answers again: every container back as `devbox up` would."""


class Recovery:
    """The policy: reacts, in a thread of its own, to what the engine watch reports."""

    def __init__(self, patient: Patient, report: Callable[..., None], url: str, stopping: threading.Event,
                 on_error: Callable[[object, Exception], None], lock=None):
        self.patient = patient
        self.report = report
        self.url = url
        self.stopping = stopping  # set: devbox itself stops the containers; nothing is news
        self.on_error = on_error  # an action held meanwhile that raised (the watcher's on_error)
        self.lock = lock or threading.RLock()  # actions and healing take turns
        self.watch = None
        self._act: Callable[[object], None] = lambda batch: None
        self._items: "queue.Queue" = queue.Queue()
        self._held: list = []  # batches that came while healing or while the engine was away
        self._held_lock = threading.Lock()
        self._policies: Dict[str, CrashPolicy] = {}
        self._down: Dict[str, Stopped] = {}  # given up on: waiting for a save
        self._lost_at: Optional[float] = None
        self._worker = threading.Thread(target=self._work, name="recovery", daemon=True)

    # -- wiring ----------------------------------------------------------------------------------
    def start(self, client, label: str) -> "Recovery":
        """Follow the engine's events for the project's `label` and heal from them."""
        from devbox.engine_watch import EngineWatch

        self._worker.start()
        self.watch = EngineWatch(client, self.url, label, self.report, listener=self, backoff=engine_backoff).start()
        return self

    def guard(self, act: Callable[[object], None]) -> Callable[[object], None]:
        """The watcher's on_batch: `act`, taking turns with healing."""
        self._act = act

        def on_batch(batch) -> None:
            with self._held_lock:
                self._held.append(batch)
            self._drain()
        return on_batch

    def close(self) -> float:
        """Stop watching and healing (before devbox stops the containers itself)."""
        self._items.put(None)
        if self.watch is not None:
            self.watch.close()
        return 0.0

    # -- the detector's reports (engine_watch.Listener); they queue, the worker acts ---------------
    def died(self, container_id: str) -> None:
        self._items.put((self._on_died, container_id))

    def started(self, container_id: str) -> None:
        self._items.put((self._on_started, container_id))

    def lost(self, error: str) -> None:
        self._items.put((self._lose, error))

    def back(self) -> None:
        self._items.put((self._on_back,))

    def resync(self) -> None:
        self._items.put((self._on_resync,))

    def _work(self) -> None:
        while True:
            item = self._items.get()
            if item is None or self.stopping.is_set():
                return
            handler, *args = item
            try:
                with self.lock:
                    handler(*args)
            except Exception as exc:  # noqa: BLE001 - an unforeseen failure: said, and a save tries again
                for label in self.patient.containers():
                    self._give_up(label, Stopped("exited", error=_first_line(exc)))
            self._drain()

    # -- what each report means -------------------------------------------------------------
    def _label_of(self, container_id: str) -> Optional[str]:
        return next((label for label, c in self.patient.containers().items() if c.id == container_id), None)

    def _state(self, label: str) -> Optional[dict]:
        """The container's inspect State ({"Status": "removed"} when it is gone), or None when the
        engine does not answer (then said)."""
        import docker

        try:
            container = self.patient.containers()[label]
            container.reload()
            return container.attrs["State"]
        except docker.errors.NotFound:
            return {"Status": "removed"}
        except Exception as exc:
            if not engine_lost(exc):
                raise
            self._lose(_first_line(exc))
            return None

    def _on_died(self, container_id: str) -> None:
        label = self._label_of(container_id)  # None: not one devbox runs now (replaced by a rebuild...)
        if label is not None and label not in self._down and self._lost_at is None:
            self._check(label)

    def _check(self, label: str) -> None:
        """Look at the container: running (someone restarted it): follow it; else heal it."""
        state = self._state(label)
        if state is None:
            return
        if state.get("Running"):
            if not self.patient.following(label):
                self.patient.refollow(label)
            return
        stopped = Stopped.of_state(state)
        self._say(label, events.CONTAINER_STOPPED, reason=stopped.reason())
        if stopped.status == "removed":
            self._give_up(label, stopped)
        else:
            self._heal(label, stopped)

    def _on_started(self, container_id: str) -> None:
        label = self._label_of(container_id)
        if label is None or self._lost_at is not None or self.patient.following(label):
            return
        self._down.pop(label, None)  # started by hand after devbox gave up: it is back
        self.patient.refollow(label)

    def _on_resync(self) -> None:
        for label in self.patient.containers():
            if label not in self._down and self._lost_at is None:
                self._check(label)

    def _lose(self, error: str) -> None:
        if self._lost_at is None:
            self._lost_at = time.monotonic()
            self.report(events.ENGINE_LOST, url=self.url, error=error)
            if self.watch is not None:
                self.watch.recheck()  # found by a call: make sure the watch pings until it answers

    def _on_back(self) -> None:
        if self._lost_at is None:
            return self._on_resync()
        self.report(events.ENGINE_BACK, url=self.url, seconds=time.monotonic() - self._lost_at)
        self._lost_at = None
        self._down.clear()
        started = time.monotonic()
        if self._attempt(self.patient.bring_back, None):
            for label in self.patient.containers():
                self._restarted(label, started)

    # -- bringing containers back -------------------------------------------------------------
    def _heal(self, label: str, stopped: Stopped, count: bool = True) -> None:
        """Start it again until it serves, or it keeps dying (then wait for a save). A death
        counts unless `count` is False (a save's retry)."""
        policy = self._policies.setdefault(label, CrashPolicy())
        while not self.stopping.is_set():
            if count and not policy.died():
                self._give_up(label, stopped)
                return
            count = True
            started = time.monotonic()
            policy.started()  # a start that fails at once is a rapid death
            if self._attempt(lambda: self.patient.restart(label), label):
                policy.started()  # its uptime counts from when it serves
                self._restarted(label, started)
                return
            if self._lost_at is not None or label in self._down:
                return
            stopped = self._failed

    def _attempt(self, start: Callable[[], None], label: Optional[str]) -> bool:
        """One start of `label` (None: everything): True when it serves. An engine that fails to start it (a 5xx: it may be
        shutting down) is asked again with back-off; a lost engine is said; a start that fails
        is said, and left in `_failed` for the caller to count."""
        import docker

        from devbox.errors import DevboxError

        troubles = 0
        while not self.stopping.is_set():
            try:
                start()
                return True
            except Exception as exc:  # sorted below; anything else is raised
                if engine_lost(exc):
                    self._lose(_first_line(exc))
                    return False
                if isinstance(exc, docker.errors.APIError) and exc.is_server_error():
                    self.stopping.wait(engine_backoff(troubles))
                    troubles += 1
                    continue
                if not isinstance(exc, (DevboxError, docker.errors.APIError)):
                    raise
                self._failed = Stopped("exited", error=_first_line(exc, bare=True))
                for each in ([label] if label is not None else list(self.patient.containers())):
                    self._say(each, events.CONTAINER_STOPPED, reason=self._failed.reason())
                if label is None:  # bringing everything back failed: a save tries again
                    for each in self.patient.containers():
                        self._give_up(each, self._failed)
                return False
        return False

    _failed = Stopped("exited")

    def _restarted(self, label: str, started: float) -> None:
        self._down.pop(label, None)
        self._say(label, events.CONTAINER_RESTARTED, seconds=time.monotonic() - started)

    def _give_up(self, label: str, stopped: Stopped) -> None:
        self._down[label] = stopped
        self._say(label, events.CONTAINER_DOWN, reason=stopped.reason(), rapid=stopped.status != "removed")

    def _say(self, label: str, event: str, **fields) -> None:
        container = self.patient.containers().get(label)
        name = getattr(container, "name", label)
        self.report(event, **({"service": label} if label else {}), name=name, **fields)

    # -- the watcher's batches ------------------------------------------------------------------
    def _drain(self) -> None:
        """Act on the held batches when nobody heals; whoever holds the lock drains when done."""
        while True:
            with self._held_lock:
                if not self._held:
                    return
            if not self.lock.acquire(blocking=False):
                return
            try:
                if self._lost_at is not None:
                    return  # kept until the engine answers again
                with self._held_lock:
                    batches, self._held = self._held, []
                for label, stopped in list(self._down.items()):  # it kept dying: a save tries once more
                    self._policies.setdefault(label, CrashPolicy()).retry()
                    self._heal(label, stopped, count=False)
                if self._lost_at is not None:
                    with self._held_lock:
                        self._held[:0] = batches
                    return
                for batch in batches:
                    try:
                        self._act(batch)
                    except Exception as exc:  # noqa: BLE001 - one failed action must not end the watch
                        self.on_error(batch, exc)
            finally:
                self.lock.release()


def _first_line(exc: BaseException, bare: bool = False) -> str:
    text = str(exc).strip().splitlines()
    if bare:
        return text[0] if text else type(exc).__name__
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
