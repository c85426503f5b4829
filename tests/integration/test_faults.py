"""Faults under a foreground `devbox up`, injected for real: its output redirected into the
project, odd file names, the container killed underneath, a copy-sync tree that drifted while
devbox was not running. Each asserts the one-line message and the recovery (the app serves the
current code again), with deadline-bounded waits. Only containers these tests start are touched.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from devbox import events, recovery
from devbox.agent import detach
from tests.own_engine import own_engine_fixture  # noqa: F401 - the fixture
from tests.relay import SocketRelay
from tests.conftest import free_port
from tests.project import DEVBOX, HELLO_APP, Project
from tests.waiting import wait_until
from tests.printed import own_traceback

RELOADED = re.compile(r"\[devbox\] ↻ (.+) -> reloaded in \d+ ms")


def set_body(project, body):
    path = project.root / "app.py"
    path.write_text(re.sub(r'BODY = ".*"', f'BODY = "{body}"', path.read_text()))


@pytest.fixture(autouse=True)
def printed_on_failure():
    """What each `devbox up` of the test printed, written to the test's captured output at its
    end: pytest shows that output only when the test failed."""
    Up.started.clear()
    yield
    for box in Up.started:
        print(f"--- devbox up (pid {box.process.pid}) printed:\n{box.output()}")


class Up:
    """`devbox up` with its stdout and stderr in `log` (by default outside the project)."""

    started = []

    def __init__(self, project, log=None, args=("up",), env=None):
        Up.started.append(self)
        self.project = project
        self.log_path = log or project.root.parent / f"{project.name}-up.log"
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(DEVBOX + list(args), cwd=project.root, stdout=self.log,
                                        stderr=subprocess.STDOUT,
                                        env={**(env or os.environ), "PYTHONUNBUFFERED": "1"})
        self.process.log = self.log
        project.background.append(self.process)
        wait_until(lambda: "watching" in self.output(), 90, 0.05, "devbox up watching")

    def output(self):
        return self.log_path.read_text(errors="replace")

    def reloads(self):
        return RELOADED.findall(self.output())

    def wait_line(self, pattern, timeout=30):
        try:
            return wait_until(lambda: re.search(pattern, self.output()), timeout, 0.02)
        except AssertionError:
            raise AssertionError(f"no line matching {pattern!r} within {timeout} s in:\n{self.output()}") from None


def test_devbox_up_redirected_into_the_project_never_reloads_on_its_own_output(project, docker_client):
    box = Up(project, log=project.root / "devbox.log")
    project.wait_body("v1\n")
    set_body(project, "v2")
    project.wait_body("v2\n")
    wait_until(lambda: box.reloads(), 30, 0.02, "the reload line")
    set_body(project, "v3")  # a sentinel: the reload after it must be the only other one
    project.wait_body("v3\n")
    wait_until(lambda: len(box.reloads()) >= 2, 30, 0.02, "the second reload line")
    assert box.reloads() == ["app.py changed", "app.py changed"], box.output()


def test_a_file_name_that_is_not_utf8_reloads_and_devbox_carries_on(project, docker_client):
    box = Up(project)
    project.wait_body("v1\n")
    with open(os.fsencode(str(project.root)) + b"/bad\xffname.py", "wb") as f:
        f.write(b"x = 1\n")
    box.wait_line(r"bad\\udcffname\.py changed -> reloaded")
    set_body(project, "v2")
    project.wait_body("v2\n")
    assert box.process.poll() is None and not own_traceback(box.output()), box.output()


def container_of(project, docker_client):
    return docker_client.containers.get(f"{project.name}-devbox")


def test_a_killed_container_is_reported_within_2_s_and_serves_the_current_code_again(project, docker_client):
    box = Up(project)
    project.wait_body("v1\n")
    container_of(project, docker_client).kill()
    killed = time.monotonic()
    box.wait_line(r"container \S+ stopped underneath devbox \(exit status 137 \(SIGKILL\)\)", timeout=10)
    assert time.monotonic() - killed < 2.5, box.output()
    set_body(project, "v2")  # saved while it is down or starting again: served once it is back
    project.wait_body("v2\n")
    box.wait_line(r"container \S+ started again in [\d.]+ s, serving again")
    assert "APIError" not in box.output() and box.process.poll() is None, box.output()


class Events:
    """`devbox events --since 0` of the running agent: every record it held, then new ones."""

    def __init__(self, project):
        self.process = subprocess.Popen(DEVBOX + ["events", "--since", "0"], cwd=project.root, stdout=subprocess.PIPE,
                                        text=True)
        self.process.log = self.process.stdout  # closed at teardown, with the other background processes'
        project.background.append(self.process)
        self.seen = []

    def until(self, event, timeout=30, **fields):
        def look():
            line = self.process.stdout.readline()  # the agent sends records as they happen
            if line:
                self.seen.append(json.loads(line))
            return next((r for r in self.seen if r["event"] == event
                         and all(r.get(k) == v for k, v in fields.items())), None)
        return wait_until(look, timeout, 0, f"a {event} record {fields or ''}")


def test_every_fault_line_is_also_an_event(project, docker_client):
    box = Up(project)
    project.wait_body("v1\n")
    container = container_of(project, docker_client)
    container.kill()
    box.wait_line(r"started again in [\d.]+ s, serving again")
    records = Events(project)
    exited = records.until(events.CONTAINER_EXITED, name=container.name, exit_code=137)
    stopped = records.until(events.CONTAINER_STOPPED, name=container.name, reason="exit status 137 (SIGKILL)")
    restarted = records.until(events.CONTAINER_RESTARTED, name=container.name)
    assert exited["seq"] < stopped["seq"] < restarted["seq"] and restarted["seconds"] > 0


def test_a_container_restarted_by_someone_else_is_followed_again(project, docker_client):
    box = Up(project)
    project.wait_body("v1\n")
    docker_client.api.restart(container_of(project, docker_client).id, timeout=2)
    # Its new output is followed: a request to the restarted app shows its line.
    wait_until(lambda: project.get("/after-restart") == (200, "v1\n"), 30, 0.05, "the restarted app answering")
    box.wait_line(r"GET /after-restart 200")
    set_body(project, "v2")  # and the watcher drives the restarted container
    project.wait_body("v2\n")
    box.wait_line(r"app\.py changed -> reloaded in")
    assert box.process.poll() is None and "APIError" not in box.output(), box.output()


def test_a_container_that_keeps_dying_waits_for_a_save(project, docker_client):
    box = Up(project)
    project.wait_body("v1\n")
    for n in range(1, recovery.RAPID_DEATHS + 1):
        container_of(project, docker_client).kill()
        wait_until(lambda n=n: box.output().count("stopped underneath devbox") == n, 10, 0.02, f"death {n} said")
        if n < recovery.RAPID_DEATHS:
            wait_until(lambda n=n: box.output().count("started again") == n, 30, 0.02, f"restart {n}")
    box.wait_line(r"container \S+ keeps dying \(exit status 137 \(SIGKILL\)\); not restarting it until you save")
    assert box.output().count("started again") == recovery.RAPID_DEATHS - 1
    assert not container_of(project, docker_client).attrs["State"]["Running"]
    set_body(project, "v2")
    project.wait_body("v2\n")
    # said once the start has returned, which may be just after the new code's first answer
    wait_until(lambda: box.output().count("started again") == recovery.RAPID_DEATHS, 10, 0.02,
               f"restart {recovery.RAPID_DEATHS} said")


def test_an_engine_restart_is_said_once_and_the_container_comes_back_with_the_saves_made_meanwhile(
        project, own_engine):
    box = Up(project, env=own_engine.env)
    project.wait_body("v1\n")
    own_engine.stop()
    box.wait_line(r"the Docker engine at \S+ stopped answering; still watching")
    set_body(project, "v2")  # saved while there is no engine
    own_engine.start()
    box.wait_line(r"the Docker engine at \S+ answers again", timeout=60)
    project.wait_body("v2\n", timeout=60)
    box.wait_line(r"container \S+ started again")
    assert box.output().count("stopped answering") == 1, box.output()
    set_body(project, "v3")  # and the watcher drives the container it brought back
    project.wait_body("v3\n")
    assert box.process.poll() is None and not own_traceback(box.output()), box.output()


def test_copy_sync_proves_a_kept_containers_tree_and_sends_only_the_difference(project, docker_client, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not the project's")
    for name in ("a.py", "b.py", "gone.py", "same.py"):
        project.write(name, f"# {name}\n")
    os.symlink(str(outside), project.root / "out")
    project.write_config(extra="sync: copy\n")
    box = Up(project)
    project.wait_body("v1\n")
    made = container_of(project, docker_client).exec_run(["sh", "-c", "mkdir /app/__pycache__ && : > /app/__pycache__/x.pyc"])
    assert made.exit_code == 0, made.output  # the app's own file in the container, ignored on the host
    box.process.send_signal(signal.SIGINT)  # stopped, kept for the next `up`
    assert box.process.wait(30) == 0
    container_of(project, docker_client).get_archive("/app/gone.py")  # there, in the stopped container
    # While devbox is not running: 3 changed, 1 deleted.
    set_body(project, "v2")
    project.write("a.py", "# a, edited\n")
    project.write("b.py", "# b, edited\n")
    (project.root / "gone.py").unlink()
    result = project.devbox("up", "-d")
    assert "container tree checked against 6 files: 3 changed, 1 deleted" in result.stdout, result.stdout
    project.wait_body("v2\n")
    container = container_of(project, docker_client)
    assert container.exec_run(["test", "-e", "/app/gone.py"]).exit_code == 1
    assert container.exec_run(["cat", "/app/a.py"]).output == b"# a, edited\n"
    assert container.exec_run(["test", "-e", "/app/__pycache__/x.pyc"]).exit_code == 0  # ignored: kept
    assert container.exec_run(["readlink", "/app/out"]).output.decode().strip() == str(outside)
    assert container.exec_run(["test", "-e", "/app/out/secret.txt"]).exit_code == 1  # a link, never its target
    # The agent that `up -d` left stops (the container is kept); the next `up -d` checks it again.
    agent_pid = json.loads(project.devbox("status", "--json").stdout)["agent"]["pid"]
    os.kill(agent_pid, signal.SIGTERM)
    wait_until(lambda: not detach.alive(agent_pid), 30, 0.05, "the agent stopped")
    again = project.devbox("up", "-d")
    assert "container tree checked against 6 files: in sync" in again.stdout, again.stdout


def test_a_killed_copy_sync_container_comes_back_with_the_tree_saved_meanwhile(project, docker_client):
    project.write("old.py", "# old\n")
    project.write_config(extra="sync: copy\n")
    box = Up(project)
    project.wait_body("v1\n")
    container_of(project, docker_client).kill()
    box.wait_line(r"stopped underneath devbox \(exit status 137")
    set_body(project, "v2")
    (project.root / "old.py").unlink()
    with open(os.fsencode(str(project.root)) + b"/bad\xffname.py", "wb") as f:
        f.write(b"x = 1\n")
    project.wait_body("v2\n", timeout=30)
    box.wait_line(r"started again")
    container = container_of(project, docker_client)
    listing = container.exec_run(["ls", "/app"]).output
    assert b"bad\xffname.py" in listing and b"old.py" not in listing, listing
    assert box.process.poll() is None and not own_traceback(box.output()), box.output()


def test_the_engine_watch_tells_its_listener_the_engine_went_away_and_came_back(tmp_path):
    """The detector alone, on a relay of the shared engine's socket that the test cuts."""
    import docker

    from devbox.engine_watch import EngineWatch

    class Listener:
        def __init__(self):
            self.heard = []

        def died(self, cid):
            self.heard.append("died")

        started = died

        def lost(self, error):
            self.heard.append(("lost", bool(error)))

        def back(self):
            self.heard.append("back")

        def resync(self):
            self.heard.append("resync")

    relay = SocketRelay(tmp_path / "engine.sock").start()
    url = f"unix://{relay.path}"
    client = docker.DockerClient(base_url=url)
    listener = Listener()
    watch = EngineWatch(client, url, "devbox.test.none=1", lambda event, **f: None, listener=listener,
                        backoff=recovery.engine_backoff).start()
    try:
        # The watch's events request has gone through the relay before the cut: a connection still
        # in the backlog when the relay closes would wait unanswered, not fail, and the client's
        # first connection (the SDK asks /version when it is made) is not the stream's.
        wait_until(lambda: b"/events" in relay.sent, 10, 0.01, "the watch's events request passed the relay")
        relay.cut()
        wait_until(lambda: listener.heard == [("lost", True)], 20, 0.02, "lost")
        relay.start()
        wait_until(lambda: listener.heard == [("lost", True), "back"], 20, 0.02, "back")
    finally:
        watch.close()
        client.close()


def sshd_processes(pid):
    """The sshd `pid`, then every sshd process under it (one per connection), not the commands
    they run: a command killed mid-way (the login shell's own start-up) may leave a lock behind,
    where a dropped connection lets it end by itself."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
                children.setdefault(int(stat.rpartition(")")[2].split()[1]), []).append(
                    (int(entry), stat[stat.index("(") + 1:stat.rindex(")")]))
            except (OSError, ValueError, IndexError):
                continue
    found, todo = [pid], list(children.get(pid, []))
    while todo:
        child, comm = todo.pop()
        if comm == "sshd":
            found.append(child)
            todo.extend(children.get(child, []))
    return found


def test_a_remote_engine_whose_ssh_connection_drops_is_waited_for_and_serves_the_saves_made_meanwhile(
        project, tmp_path, docker_client):
    from devbox.tunnel import Tunnel, state_dir
    from tests.sshd import SshServer

    sshd = SshServer(tmp_path / "sshd").start()
    env = {**os.environ, **sshd.env()}
    try:
        project.write("gone.py", "# deleted while the connection is down\n")
        box = Up(project, env=env)
        project.wait_body("v1\n")  # through the ssh forward
        # The VM's network goes: sshd and every connection it carries (the engine's event stream,
        # the log stream, the copy receiver, the port forward) die at once.
        sshd.process.send_signal(signal.SIGSTOP)  # it accepts (forks) nothing more meanwhile
        for pid in sshd_processes(sshd.process.pid)[1:]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        sshd.process.kill()
        sshd.process.wait(10)
        sshd.log.close()
        box.wait_line(rf"the Docker engine at {re.escape(sshd.url)} stopped answering; still watching", timeout=20)
        set_body(project, "v2")  # saved while the engine cannot be reached
        (project.root / "gone.py").unlink()
        sshd.start()  # the same address and port
        box.wait_line(rf"the Docker engine at {re.escape(sshd.url)} answers again", timeout=60)
        box.wait_line(r"container \S+ started again")
        project.wait_body("v2\n", timeout=30)  # the forward is open again, and the save was sent
        assert container_of(project, docker_client).exec_run(["test", "-e", "/app/gone.py"]).exit_code == 1
        assert box.output().count("stopped answering") == 1, box.output()
        raw = [line for line in box.output().splitlines() if not line.startswith(("[devbox]", "[app]"))]
        assert raw == [], box.output()  # ssh's own complaints are not printed: devbox says it once
        set_body(project, "v3")  # and the watcher drives the container over the new connection
        project.wait_body("v3\n")
        assert box.process.poll() is None and not own_traceback(box.output()), box.output()
    finally:
        project.stop_background()
        for state in state_dir(env).glob(f"{project.name}-*.json"):
            tunnel = Tunnel.recorded(state)
            if tunnel is not None:
                tunnel.stop()
        sshd.stop()


NOBODY = 65534  # an unprivileged uid: as root, a mode of 000 denies nothing
SYSTEM_PYTHON = "/usr/bin/python3"


def test_a_directory_devbox_may_not_read_is_said_once_and_the_rest_still_reloads(unique_name):
    """`devbox run` (the same watcher, with the supervisor on this machine: the engine plays no
    part here) as an unprivileged user, so a directory of mode 000 really is unreadable to it."""
    top = Path(tempfile.mkdtemp(prefix="dbx-denied-"))
    try:
        os.chmod(top, 0o755)
        project = Project(top / "proj", unique_name, free_port(), "unused")
        project.root.mkdir()
        project.write("app.py", HELLO_APP)
        project.write_config()
        project.write("locked/hidden.py", "x = 1\n")
        project.write("open/seen.py", "x = 1\n")
        for path in [top, *top.rglob("*")]:
            os.chown(path, NOBODY, NOBODY)
        os.chmod(project.root / "locked", 0)
        # The venv's interpreter lives under /root, which that user may not enter: the system's
        # python3 (the same minor version) runs devbox from this tree with the venv's packages.
        packages = next(p for p in sys.path if p.endswith("site-packages") and p.startswith(sys.prefix))
        env = {"PATH": os.environ["PATH"], "HOME": str(top), "PYTHONUNBUFFERED": "1", "XDG_RUNTIME_DIR": str(top),
               "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2]), packages])}
        log = top / "run.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                                        SYSTEM_PYTHON, "-m", "devbox", "run"], cwd=project.root, stdout=out,
                                       stderr=subprocess.STDOUT, env=env)
        try:
            output = lambda: log.read_text(errors="replace")  # noqa: E731
            wait_until(lambda: "watching" in output() or process.poll() is not None, 60, 0.05, "devbox run watching")
            assert process.poll() is None, output()
            project.wait_body("v1\n")
            assert output().count("cannot read locked/ (permission denied)") == 1, output()
            set_body(project, "v2")  # the rest reloads as ever
            project.wait_body("v2\n")
            project.write("open/seen.py", "x = 2\n")
            try:
                wait_until(lambda: "open/seen.py changed -> reloaded" in output(), 20, 0.05, "open/seen.py reloaded")
            except AssertionError:
                raise AssertionError(output()) from None
            def reloads_of(rel):
                return sum(1 for line in output().splitlines() if rel in line and "-> reloaded in" in line)

            project.write("later/new.py", "x = 1\n")  # a directory made while it runs is watched too
            wait_until(lambda: reloads_of("later/new.py") == 1, 20, 0.05, "later/new.py reloaded")
            project.write("later/new.py", "x = 2\n")
            wait_until(lambda: reloads_of("later/new.py") == 2, 20, 0.05, "its edit reloaded")
            assert output().count("cannot read locked/") == 1 and not own_traceback(output()), output()
            assert process.poll() is None
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(30)
    finally:
        os.chmod(top / "proj" / "locked", 0o755)
        shutil.rmtree(top, ignore_errors=True)
