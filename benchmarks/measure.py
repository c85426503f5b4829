"""The measurements, each taken from outside the contender: HTTP and /proc only.

- edit-to-new-response: t0 right after the save; a new connection every 5 ms until the new body.
- failed requests: a second client requests `/` continuously while the edits happen.
- idle CPU: the whole process tree (children and reaped children included), from /proc.
- time to stop: the stop signal until the last process is gone.
"""

from __future__ import annotations

import random
import socket
import time
from dataclasses import dataclass
from typing import Callable, Optional

from benchmarks import probe, proctree
from benchmarks.contenders import Contender
from benchmarks.project import Project

SERVE_TIMEOUT = 10.0  # an edit not served within this is "never served"
QUIET_WINDOW = 0.5
QUIET_PERCENT = 5.0


@dataclass
class Settings:
    rounds: int = 3
    edits: int = 10  # per round, plain app
    heavy_edits: int = 5  # per round, app with the ~0.4 s import
    idle_seconds: float = 20.0
    extra_files: int = 20_000
    settle: float = 1.5  # after the first response, before measuring: watchers take their baseline
    gap: tuple = (0.6, 1.2)  # random pause after each served edit, so edits fall at any phase of a poller
    start_timeout: float = 60.0
    quiet_max: float = 10.0  # longest wait for the tree to go quiet before an idle window
    poll_interval: float = 0.005
    failure_interval: float = 0.010

    @classmethod
    def quick(cls) -> "Settings":
        return cls(rounds=1, edits=3, heavy_edits=2, idle_seconds=2.0, settle=0.8, gap=(0.2, 0.4), quiet_max=2.0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Versions:
    """Version names unique within the run, so an old body is never taken for a new one."""

    def __init__(self):
        self.n = 0

    def next(self) -> str:
        self.n += 1
        return f"v{self.n}"


class StartFailed(Exception):
    pass


class Session:
    """One start-to-stop of one contender on one project: start, measure inside, stop."""

    def __init__(self, contender: Contender, project: Project, versions: Versions, settings: Settings,
                 log_path: str, sleep: Callable[[float], None] = time.sleep):
        self.contender = contender
        self.project = project
        self.versions = versions
        self.settings = settings
        self.log_path = log_path
        self.sleep = sleep
        self.port = free_port()
        self.startup_s: Optional[float] = None
        self.stop_s: Optional[float] = None
        self.exited_early = False

    def __enter__(self) -> "Session":
        version = self.versions.next()
        self.project.write(version)
        started = time.monotonic()
        self.contender.start(self.project, self.port, self.log_path)
        served = probe.wait_for_body(self.port, self.project.marker(version), self.settings.start_timeout,
                                     interval=self.settings.poll_interval)
        if served is None:
            self.contender.cleanup()
            raise StartFailed(f"{self.contender.name} did not serve within {self.settings.start_timeout:g} s "
                              f"(see {self.log_path})")
        self.startup_s = served - started
        self.sleep(self.settings.settle)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                # A contender that died meanwhile has no stop time: its crash is in its log.
                self.exited_early = not self.contender.running()
                self.stop_s = None if self.exited_early else self.contender.stop()
        finally:
            self.contender.cleanup()

    # -- inside a session --------------------------------------------------------------------------
    def idle_cpu(self) -> dict:
        """CPU of the contender's whole tree over the idle window, no request sent meanwhile.

        The window opens once the tree has gone quiet (or after `quiet_max` s): a watcher that is
        still taking its first inventory of the tree is starting, not idle.
        """
        settled = self.wait_quiet()
        meter = proctree.CpuMeter(self.contender.roots)
        meter.start()
        self.sleep(self.settings.idle_seconds)
        return {**meter.stop(), "quiet_after_s": settled}

    def wait_quiet(self) -> float:
        """Seconds until a `QUIET_WINDOW` used under `QUIET_PERCENT` of a core, at most `quiet_max`."""
        started = time.monotonic()
        while time.monotonic() - started < self.settings.quiet_max:
            meter = proctree.CpuMeter(self.contender.roots)
            meter.start()
            self.sleep(QUIET_WINDOW)
            if meter.stop()["percent"] < QUIET_PERCENT:
                break
        return round(time.monotonic() - started, 2)

    def edits(self, count: int) -> dict:
        """`count` edits, each waited for (or given up after SERVE_TIMEOUT), with a second client
        counting failed requests all along."""
        latencies, missed = [], 0
        with probe.FailureClient(self.port, interval=self.settings.failure_interval) as client:
            for _ in range(count):
                version = self.versions.next()
                t0 = self.project.write(version)
                self.contender.after_edit()
                remaining = SERVE_TIMEOUT - (time.monotonic() - t0)
                served = probe.wait_for_body(self.port, self.project.marker(version), max(0.0, remaining),
                                             interval=self.settings.poll_interval)
                if served is None:
                    missed += 1
                else:
                    latencies.append(round((served - t0) * 1000.0, 2))
                self.sleep(random.uniform(*self.settings.gap))
        return {"edits": count, "latencies_ms": latencies, "missed": missed, "requests": client.log.requests,
                "failures": client.log.failures}
