"""Real supervisor processes for the tests: start, talk HTTP on 127.0.0.1, read the event lines,
and kill everything that was started (by pid / process group) even when a test fails."""

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devbox.supervisor import protocol
from devbox.supervisor.status import read_status
from tests.waiting import wait_until

APPS = Path(__file__).parent / "apps"
TIMEOUT = 15.0  # generous: the machine is small and shared


def free_port():
    """A port nobody listens on right now (for commands that bind it themselves)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path="/", timeout=5.0):
    """(status, body text) of one request on a fresh connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def write_app(directory, body, name="app.py", extra=""):
    """A WSGI module answering `body` (plus whatever `extra` code it needs)."""
    path = Path(directory) / name
    path.write_text(
        "import os\n"
        + extra
        + "\nBODY = %r\n" % body
        + "def app(environ, start_response):\n"
        "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
        "    return [BODY.encode()]\n"
    )
    return path


def pid_alive(pid):
    """True while the process exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


class Supervisor:
    """One `python -m devbox.supervisor` with its output in files (never an undrained pipe)."""

    def __init__(self, workdir, args, env=None, ignore_sigint=False, python_argv=None):
        self.workdir = Path(workdir)
        self.status_file = self.workdir / "status.json"
        self.lock_file = self.workdir / "heartbeat.lock"
        self.out_path = self.workdir / "supervisor.out"
        self.err_path = self.workdir / "supervisor.err"
        argv = list(python_argv or [sys.executable, "-m", "devbox.supervisor"])
        argv += ["--host", "127.0.0.1",
                "--status-file", str(self.status_file), "--lock-file", str(self.lock_file)]
        argv += list(args)
        full_env = dict(os.environ, **(env or {}))
        # Bytecode caching on, as in most images: reloads must not serve stale .pyc files.
        full_env.pop("PYTHONDONTWRITEBYTECODE", None)

        def preexec():
            if ignore_sigint:
                signal.signal(signal.SIGINT, signal.SIG_IGN)

        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(argv, cwd=str(self.workdir), stdout=out, stderr=err,
                                         env=full_env, start_new_session=True,
                                         preexec_fn=preexec)
        self.pid = self.proc.pid

    # -- reading what it says -----------------------------------------------------------------

    def lines(self):
        return self.out_path.read_text(errors="replace").splitlines()

    def events(self, kind=None):
        found = [protocol.parse_event(line) for line in self.lines()]
        return [(k, f) for k, f in (e for e in found if e) if kind is None or k == kind]

    def wait_event(self, kind, timeout=TIMEOUT, **match):
        """Fields of the first `kind` event whose fields include `match`."""
        def find():
            for _kind, fields in self.events(kind):
                if all(fields.get(key) == value for key, value in match.items()):
                    return fields
            return None

        return wait_until(find, timeout=timeout,
                          message="event %s %s (output: %s)" % (kind, match, self.output()))

    def output(self):
        text = self.out_path.read_text(errors="replace")
        if self.err_path.exists():
            text += "\n--- stderr ---\n" + self.err_path.read_text(errors="replace")[-3000:]
        return text

    def status(self):
        return read_status(str(self.status_file))

    @property
    def port(self):
        address = self.wait_event(protocol.EVENT_STARTED)["address"]
        return int(address.rsplit(":", 1)[1])

    def child_pids(self):
        """Every child pid the supervisor reported."""
        pids = {fields["pid"] for _, fields in self.events(protocol.EVENT_READY)}
        try:
            if self.status().get("child_pid"):
                pids.add(self.status()["child_pid"])
        except (OSError, ValueError):
            pass
        return pids

    # -- acting -------------------------------------------------------------------------------

    def reload(self):
        """SIGHUP, then wait for the new generation to be ready; returns its ready fields."""
        generation = self.status()["generation"] + 1
        self.send(signal.SIGHUP)
        return self.wait_event(protocol.EVENT_READY, generation=generation)

    def send(self, signum):
        os.kill(self.pid, signum)

    def stop(self, signum=signal.SIGTERM, timeout=TIMEOUT):
        """Signal it and wait for its exit; returns (exit status, seconds it took)."""
        started = time.monotonic()
        self.send(signum)
        code = self.proc.wait(timeout)
        return code, time.monotonic() - started

    def kill_everything(self):
        """Teardown: the supervisor's group and every child's group, by pid, then reap."""
        pids = self.child_pids()
        for pid in [self.pid] + sorted(pids):
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass


@pytest.fixture
def supervisor(tmp_path):
    """supervisor(args, ...) starts one in tmp_path; all are killed at teardown."""
    started = []

    def start(args, workdir=None, **kwargs):
        sup = Supervisor(workdir or tmp_path, args, **kwargs)
        started.append(sup)
        return sup

    yield start
    for sup in started:
        sup.kill_everything()


@pytest.fixture
def processes():
    """Popen list for processes a test starts by hand; killed (group and pid) at teardown."""
    procs = []
    yield procs
    for proc in procs:
        for kill in (os.killpg, os.kill):
            try:
                kill(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
