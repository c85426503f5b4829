"""The agent's control socket and its protocol, with a real socket and real processes: who may
connect, what each op answers, how the event stream replays and ends, the lock, and what
`devbox wait` waits for. No engine: the project behind the agent is not needed for these."""

import os
import socket
import stat
import subprocess
import sys
import threading
import time

import pytest

from devbox import events
from devbox.agent import control
from devbox.agent.bus import EventBus
from devbox.agent.control import AgentClient
from devbox.agent.home import AgentHome, check_private
from devbox.agent.lock import AgentLock
from devbox.agent.progress import Progress
from devbox.agent.server import ControlServer
from devbox.errors import DevboxError
from devbox.supervisor import protocol
from tests.waiting import wait_until


@pytest.fixture
def home(agent_runtime, tmp_path):
    (tmp_path / "devbox.yml").write_text("app: app:app\n")
    return AgentHome.for_path(tmp_path / "devbox.yml").ensure()


@pytest.fixture
def served(home):
    bus = EventBus()
    server = ControlServer(home.socket, bus, {"hello": lambda r: {"pid": os.getpid()},
                                              "status": lambda r: {"echo": r}}).start()
    yield bus, AgentClient(home)
    server.close()


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_the_socket_is_0600_in_a_0700_directory_under_the_runtime_dir(home, served, agent_runtime):
    assert str(home.socket).startswith(str(agent_runtime / "devbox" / "agents"))
    assert stat.S_ISSOCK(os.lstat(home.socket).st_mode)
    assert mode(home.socket) == 0o600
    for directory in (home.dir, home.dir.parent, home.dir.parent.parent):
        assert mode(directory) == 0o700


def test_a_home_under_a_cache_dir_that_does_not_exist_yet_is_made(agent_runtime, tmp_path):
    # A fresh account: no runtime dir, and no ~/.cache either (a short path: it holds a socket).
    cache = agent_runtime / "h" / ".cache"
    (tmp_path / "devbox.yml").write_text("app: app:app\n")
    home = AgentHome.for_path(tmp_path / "devbox.yml", {"XDG_CACHE_HOME": str(cache)}).ensure()
    assert home.dir.is_dir() and stat.S_IMODE(home.dir.stat().st_mode) == 0o700


def test_a_directory_others_may_enter_is_refused(home):
    os.chmod(home.dir, 0o755)
    with pytest.raises(DevboxError, match="not private"):
        check_private(home.dir)
    home.ensure()  # ensure() makes it private again (it is ours)
    assert mode(home.dir) == 0o700


def test_without_xdg_runtime_dir_the_agent_lives_in_the_cache(tmp_path, monkeypatch):
    from devbox.agent import home as home_mod

    assert home_mod.base_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "devbox" / "agents"


def test_ops_are_answered_one_json_line_each(served):
    bus, client = served
    assert client.request("hello") == {"ok": True, "pid": os.getpid()}
    assert client.request("status", extra=[1, 2])["echo"] == {"op": "status", "extra": [1, 2]}
    with pytest.raises(DevboxError, match="unknown op 'frob'"):
        client.request("frob")


def test_a_bad_request_line_is_answered_with_an_error(home, served):
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(home.socket))
        sock.sendall(b"not json\n")
        answer = control.decode(sock.makefile("rb").readline())
    assert answer["ok"] is False and "bad request" in answer["error"]


def test_no_agent_means_no_client(home):
    assert AgentClient.connect(home) is None
    home.socket.write_text("")  # a stale file, not a socket
    assert AgentClient.connect(home) is None


def test_the_event_stream_replays_what_it_holds_then_follows_until_the_bus_closes(served):
    bus, client = served
    bus(events.LINE, line="before")
    stream = client.stream("events", since=0)
    assert next(stream)["ok"] is True
    assert next(stream)["line"] == "before"
    bus(events.RELOADED, service="web", paths=["app.py"], ms=12.5)
    live = next(stream)
    assert (live["event"], live["service"], live["paths"], live["ms"]) == ("reloaded", "web", ["app.py"], 12.5)
    assert live["seq"] == 2
    bus.close()
    assert list(stream) == []


def test_closing_the_server_still_sends_the_records_a_stream_was_given(home):
    # The agent's last records (agent_failed, agent_stopped) come just before it closes the
    # server and exits: `devbox up` must read them, not "the agent stopped before serving".
    bus = EventBus()
    server = ControlServer(home.socket, bus, {}).start()
    stream = AgentClient(home).stream("events")
    assert next(stream)["ok"] is True
    for n in range(50):
        bus(events.LINE, line=f"last words {n}")
    server.close()
    assert [r["line"] for r in stream] == [f"last words {n}" for n in range(50)]


def test_a_stream_without_since_starts_now(served):
    bus, client = served
    bus(events.LINE, line="old")
    stream = client.stream("events")
    next(stream)
    bus(events.LINE, line="new")
    assert next(stream)["line"] == "new"
    stream.close()


def test_records_are_plain_json_and_hide_a_specs_environment():
    from devbox.plan import ContainerSpec

    bus = EventBus()
    seen = []
    bus.add_reader(seen.append)
    spec = ContainerSpec(name="c", image="img", command=(), workdir="/app", bind_source="/src",
                         ports=((8000, "127.0.0.1", 8000),), env=(("SECRET", "x"),))
    bus(events.CONTAINER, name="c", how="created", spec=spec)
    assert seen[0]["spec"] == {"name": "c", "image": "img", "sync": "bind", "urls": ["http://127.0.0.1:8000"]}
    assert "SECRET" not in repr(seen)


def test_the_console_renders_the_records_the_stream_sends(tmp_path):
    import io

    from devbox.cli.console import Console

    out = io.StringIO()
    console = Console(out=out)
    console.bus(events.RELOADED, paths=["app.py"], ms=42.0)
    assert out.getvalue() == "[devbox] ↻ app.py changed -> reloaded in 42 ms\n"


def test_another_process_cannot_take_the_lock_while_it_is_held(home):
    holder = AgentLock(home.lock)
    assert holder.acquire()
    probe = [sys.executable, "-c", "import sys; from devbox.agent.lock import AgentLock; "
             f"sys.exit(0 if AgentLock({str(home.lock)!r}).acquire() else 3)"]
    assert subprocess.run(probe).returncode == 3
    holder.release()
    assert subprocess.run(probe).returncode == 0


def test_the_lock_goes_with_a_killed_holder(home):
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from devbox.agent.lock import AgentLock; "
                               f"assert AgentLock({str(home.lock)!r}).acquire(); print('held', flush=True); "
                               "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "held\n"
    assert AgentLock(home.lock).held_elsewhere()
    holder.kill()
    holder.wait()
    assert not AgentLock(home.lock).held_elsewhere()


# -- what `devbox wait` waits for --------------------------------------------------------------

def record(event, **fields):
    return {"seq": 1, "t": time.time(), "event": event, **fields}


def waiting(progress, polls, timeout=5.0):
    """progress.wait(...) in a thread; its result when it ends."""
    result = {}
    thread = threading.Thread(target=lambda: result.update(progress.wait(polls, timeout)), daemon=True)
    thread.start()
    return thread, result


def test_wait_needs_a_collect_begun_after_it_that_found_nothing():
    progress = Progress()
    progress(record(events.SERVING))
    progress.at_quiet(3)  # a collect that began before the wait (polls was 3)
    thread, result = waiting(progress, polls=3)
    thread.join(0.2)
    assert thread.is_alive()  # not yet: changes made before the wait may be in flight
    progress(record(events.RELOADED, paths=["app.py"], ms=20.0, generation=2))
    progress.at_quiet(4)
    thread.join(2)
    assert result["state"] == "settled" and result["generations"] == {"": 2}


def test_wait_says_why_the_app_does_not_serve_and_a_good_save_clears_it():
    progress = Progress()
    progress(record(events.SERVING))
    progress(record(events.SUPERVISOR, kind=protocol.EVENT_CRASHED, generation=3, status="startup",
                    summary="app.py:7: SyntaxError: invalid syntax"))
    progress.at_quiet(1)
    assert progress.wait(0, 1.0) == {"state": "failed", "error": "app.py:7: SyntaxError: invalid syntax",
                                     "generations": {"": 3}}
    progress(record(events.RELOADED, paths=["app.py"], ms=20.0, generation=4))
    assert progress.wait(0, 1.0)["state"] == "settled"


def test_a_late_line_about_an_older_generation_changes_nothing():
    progress = Progress()
    progress(record(events.SERVING))
    progress(record(events.RELOADED, ms=5.0, generation=5))
    progress(record(events.SUPERVISOR, kind=protocol.EVENT_CRASHED, generation=4, summary="old"))
    progress.at_quiet(1)
    assert progress.wait(0, 1.0)["state"] == "settled"


@pytest.mark.parametrize("bad, good, expected", [
    (record(events.SYNC_FAILED, service="web", paths=["a"], error="disk full"), record(events.SYNCED, service="web", paths=["a"]),
     "web: disk full"),
    (record(events.CONFIG_INVALID, error="devbox.yml:2: unknown key"), record(events.CONFIG_APPLIED, recreated=False, url=""),
     "devbox.yml:2: unknown key"),
    (record(events.CONTAINER_EXITED, name="c", id="1", exit_code=137), record(events.CONTAINER_STARTED, name="c", id="1"),
     "container c exited (status 137)"),
    (record(events.ENGINE_LOST, url="unix://x", error="gone"), record(events.CONTAINER_RESTARTED, name="c", seconds=1.0),
     "lost the Docker engine at unix://x: gone"),
    (record(events.CONTAINER_STOPPED, name="c", reason="exit status 137 (SIGKILL)"),
     record(events.CONTAINER_RESTARTED, name="c", seconds=1.0), "container c stopped (exit status 137 (SIGKILL))"),
])
def test_each_problem_fails_a_wait_until_its_own_recovery(bad, good, expected):
    progress = Progress()
    progress(record(events.SERVING))
    progress.at_quiet(1)
    progress(bad)
    assert progress.wait(0, 1.0)["error"] == expected
    progress(good)
    assert progress.wait(0, 1.0)["state"] == "settled"


def test_wait_times_out_before_the_project_serves_and_ends_with_the_agent():
    progress = Progress()
    progress.at_quiet(5)
    assert progress.wait(0, 0.05)["state"] == "timeout"
    progress(record(events.AGENT_FAILED, error="port 8000 is in use"))
    assert progress.wait(0, 1.0) == {"state": "ended", "error": "port 8000 is in use"}


def test_stats_count_the_agents_reloads_and_their_median():
    progress = Progress()
    for ms in (10.0, 30.0, 20.0):
        progress(record(events.RELOADED, ms=ms, generation=0))
    assert progress.stats() == {"reloads": 3, "reload_p50_ms": 20.0, "failure": None}


def test_crash_details_name_file_line_and_error():
    from devbox.logs import crash_details

    assert crash_details("pkg/app.py:12: NameError: name 'x' is not defined") == {
        "summary": "pkg/app.py:12: NameError: name 'x' is not defined", "error": "NameError: name 'x' is not defined",
        "file": "pkg/app.py", "line": 12}
    assert crash_details("the app exited with status 1")["file"] is None


def test_the_readme_documents_every_event():
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    table = readme[readme.index("<!-- events:start -->"):readme.index("<!-- events:end -->")]
    documented = {line.split("`")[1] for line in table.splitlines() if line.startswith("| `")}
    assert documented == set(events.ALL)


def test_status_never_imports_the_docker_sdk_when_the_agent_answers(home, tmp_path):
    """The fast path of `devbox status`: the real command, answered by a socket that speaks the
    agent's protocol, prints the agent's rows without importing docker."""
    from devbox.status import AgentStatus, ContainerStatus

    row = ContainerStatus(name="p", container="p-devbox", state="running", image="img",
                          urls=["http://127.0.0.1:8000"], supervisor={"reloads": 2, "last_reload_ms": [30, 40]})
    agent = AgentStatus(pid=4242, started_at=time.time() - 30, detached=True, socket=str(home.socket),
                        log="/x/agent.log", serving=True, reloads=2, reload_p50_ms=35.0)
    answer = {"project": "p", "agent": agent.to_dict(), "containers": [row.to_dict()]}
    server = ControlServer(home.socket, EventBus(), {"hello": lambda r: {"pid": 4242},
                                                      "status": lambda r: answer}).start()
    try:
        code = ("import sys; from devbox.cli import main; "
                f"rc = main(['-f', {str(tmp_path / 'devbox.yml')!r}, 'status']); "
                "sys.exit(3 if 'docker' in sys.modules else rc)")
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    finally:
        server.close()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("p  running  http://127.0.0.1:8000  image img")
    assert lines[1].startswith("agent  pid 4242  up 30 s  reloads 2 (p50 35 ms)  log /x/agent.log")


def _voluntary_switches(tid):
    with open("/proc/%d/task/%d/status" % (os.getpid(), tid)) as f:
        return next(int(line.split()[1]) for line in f if line.startswith("voluntary_ctxt_switches:"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts wake-ups in /proc")
def test_an_idle_control_socket_does_not_wake(home, served):
    """Its accept loop sleeps in select() with no timeout (socketserver's serve_forever woke
    every 0.2 s): counted by the kernel's context switches of its thread, not timed."""
    bus, client = served
    assert client.request("hello")["pid"] == os.getpid()  # it serves, and then rests
    thread = next(t for t in threading.enumerate() if t.name == "control")
    before = _voluntary_switches(thread.native_id)
    time.sleep(2.0)  # the window measured
    assert _voluntary_switches(thread.native_id) - before <= 1  # was 10 in these 2 s
    assert client.request("hello")["pid"] == os.getpid()  # and still answers at once


def test_a_forked_agent_runs_in_its_own_session_with_its_output_in_the_log(home, tmp_path, monkeypatch):
    from devbox.agent import detach

    # fork() declines in a process with other threads (the CLI has none); pytest's process may
    # hold daemon threads of earlier tests, which the child here, running `run` alone, never needs.
    monkeypatch.setattr(detach.threading, "active_count", lambda: 1)

    def run():
        print("agent here", os.getcwd(), os.getsid(0) == os.getpid(), sys.stdin.read() == "")
        return 7

    forked = detach.fork(home, tmp_path / "devbox.yml", run)
    assert forked is not None and forked.pid != os.getpid()
    wait_until(lambda: forked.poll() is not None, timeout=10, message="the forked agent exits")
    assert forked.returncode == 7
    assert home.log.read_text() == f"agent here {tmp_path} True True\n"
    assert stat.S_IMODE(os.stat(home.log).st_mode) == 0o600


class _Rows:
    """A project whose status() counts its reads (the rows a real one reads from the engine)."""

    def __init__(self):
        self.reads = 0

    def status(self):
        self.reads += 1
        return []


def test_status_rows_older_than_the_max_age_are_read_again_and_fresh_ones_are_not(home):
    from devbox.agent import runner

    agent = runner.Agent(home, open_project=None, bus=EventBus(), name="p", dashboard_port=None)
    agent.project, agent.serving = _Rows(), object()
    loop = agent.start_status_loop()
    try:
        agent.fresh_rows()
        assert agent.project.reads == 1  # never read: read for this request
        agent.fresh_rows()
        assert agent.project.reads == 1  # just read: no event since, so these rows are current
        agent.rows_at -= runner.ROWS_MAX_AGE_S + 1  # as if nobody asked for a while
        agent.fresh_rows()
        assert agent.project.reads == 2
    finally:
        agent.stop_status_loop()
        loop.join(5)
