"""Overlapped handover: the old child serves while the new one imports the app; after the ready
event, no request reaches old code."""

import signal
import threading
import time

import pytest

from devbox.supervisor import protocol
from tests.supervisor.conftest import http_get
from tests.waiting import wait_until

IMPORT_SECONDS = 0.3

# The import takes a while, as a big project's does (a sleep in the app, not a wait in the test).
SLOW_APP = """
import os, time
VERSION = %d
if VERSION:
    time.sleep(%r)
def app(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [("%%d %%d" %% (VERSION, os.getpid())).encode()]
"""


class Poller:
    """Clients requesting / on fresh connections, back to back: (started, finished, version)
    each, in wall-clock time (the supervisor's status file says when it printed ready)."""

    def __init__(self, port, clients=3):
        self.port = port
        self.responses = []
        self.failures = []
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(clients)]

    def run(self):
        while not self.done.is_set():
            started = time.time()
            try:
                status, body = http_get(self.port)
            except OSError as exc:
                self.failures.append(repr(exc))
                continue
            if status != 200:
                self.failures.append("HTTP %d" % status)
            else:
                version, pid = body.split()
                self.responses.append((started, time.time(), int(version), int(pid)))

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        for thread in self.threads:
            thread.join(10)


def ready_status(sup, pid):
    """The status file once it says `pid` serves (it is written just after the ready event)."""
    status = sup.status()
    return status if status["child_pid"] == pid and status["state"] == "serving" else None


@pytest.mark.parametrize("overlap", [True, False], ids=["overlap", "no-overlap"])
def test_reloads_under_polling_fail_nothing_and_serve_nothing_stale(tmp_path, supervisor,
                                                                    overlap):
    (tmp_path / "app.py").write_text(SLOW_APP % (0, IMPORT_SECONDS))
    sup = supervisor(["--app", "app:app", "--port", "0"] + ([] if overlap else ["--no-overlap"]))
    sup.wait_event(protocol.EVENT_READY, generation=1)
    marks = []  # (version, SIGHUP sent, ready event printed)
    with Poller(sup.port) as poller:
        for version in range(1, 5):
            (tmp_path / "app.py").write_text(SLOW_APP % (version, IMPORT_SECONDS))
            sighup = time.time()
            sup.send(signal.SIGHUP)
            ready = sup.wait_event(protocol.EVENT_READY, generation=version + 1)
            status = wait_until(lambda ready=ready: ready_status(sup, ready["pid"]), timeout=10,
                                message="status of generation %d" % (version + 1))
            marks.append((version, sighup, status["ready_at"]))
        wait_until(lambda: any(r[0] > marks[-1][2] for r in poller.responses),
                   timeout=10, message="a request after the last ready")
    assert poller.failures == []
    for version, sighup, ready_at in marks:
        after_ready = [v for started, _, v, _ in poller.responses if started > ready_at]
        late = sorted((started - ready_at, finished - ready_at, v, pid) for started, finished, v,
                      pid in poller.responses if started > ready_at and v < version)
        assert after_ready and min(after_ready) >= version, "old code after ready %d: %s\n%s" % (
            version, late, sup.output())
        # While the new child imported, the old one answered at once (without overlap, those
        # requests wait in the backlog for the new child).
        old_during_import = [v for started, finished, v, _ in poller.responses
                             if v == version - 1 and started > sighup + IMPORT_SECONDS / 3]
        assert bool(old_during_import) == overlap
    assert not sup.events(protocol.EVENT_CRASHED)


def test_failed_import_replaces_the_serving_child_with_the_error_page(tmp_path, supervisor):
    (tmp_path / "app.py").write_text(SLOW_APP % (0, IMPORT_SECONDS))
    sup = supervisor(["--app", "app:app", "--port", "0"])
    sup.wait_event(protocol.EVENT_READY, generation=1)
    with Poller(sup.port) as poller:
        (tmp_path / "app.py").write_text("import time\ntime.sleep(%r)\ndef app(:\n"
                                         % IMPORT_SECONDS)
        sup.send(signal.SIGHUP)
        sup.wait_event(protocol.EVENT_CRASHED, generation=2)
        crashed_seen = time.time()
        status, page = http_get(sup.port)
        assert status == 500 and "SyntaxError" in page

        (tmp_path / "app.py").write_text(SLOW_APP % (3, IMPORT_SECONDS))
        sup.reload()
        assert http_get(sup.port)[1].startswith("3 ")
    assert all(started < crashed_seen for started, _, v, _ in poller.responses if v == 0)
    assert [f for f in poller.failures if f != "HTTP 500"] == []

