"""The per-project agent with real processes and the real engine: `up -d` leaves a watcher
that reloads with no foreground process, `down` leaves nothing, `wait` tells a good save from a
broken one, and `devbox events` streams a save, a crash and a container restart."""

import json
import os
import signal
import subprocess

from devbox.agent import detach
from tests.project import DEVBOX
from tests.waiting import wait_until


def status_json(project):
    return json.loads(project.devbox("status", "--json").stdout)


def agent_pid(project):
    return status_json(project)["agent"]["pid"]


def processes():
    """pid -> (parent pid, command line) of every running process here (zombies excluded)."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rpartition(")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if detach.alive(int(entry)):
                found[int(entry)] = (ppid, cmdline)
    return found


def ours(project, pid):
    """The agent, its children, and any process naming this project (other helpers share the machine)."""
    return {p for p, (ppid, cmd) in processes().items()
            if p == pid or ppid == pid or str(project.root) in cmd or project.name in cmd}


def edit(project, old, new):
    path = project.root / "app.py"
    path.write_text(path.read_text().replace(old, new))


def test_detached_up_reloads_a_save_with_no_foreground_process(project, docker_client):
    result = project.devbox("up", "-d")
    assert "agent pid" in result.stdout and "agent.log" in result.stdout
    pid = agent_pid(project)
    assert detach.alive(pid) and os.getsid(pid) == pid  # a session of its own: no terminal's SIGHUP reaches it
    assert project.get() == (200, "v1\n")

    edit(project, '"v1"', '"v2"')
    project.wait_body("v2\n", timeout=10)  # nothing of ours runs in the foreground: the agent reloaded

    status = project.devbox("status").stdout
    agent_line = next(line for line in status.splitlines() if line.startswith("agent "))
    assert f"pid {pid}" in agent_line and "reloads 1 (p50 " in agent_line
    info = status_json(project)
    assert info["agent"]["reloads"] == 1 and info["agent"]["reload_p50_ms"] > 0
    assert info["containers"][0]["state"] == "running" and info["containers"][0]["reloads"] == 1
    with open(info["agent"]["log"]) as log:  # the detached agent's output: what `devbox up` prints
        assert "app.py changed -> reloaded in" in log.read()


def test_logs_follow_shows_the_agents_reload_lines_with_the_apps(project, docker_client):
    project.devbox("up", "-d")
    follow = project.spawn("logs", "-f")
    try:
        wait_until(lambda: project.get() == (200, "v1\n") and "GET / 200" in project.output(follow), 20, 0.05,
                   "the app's request line")
        edit(project, '"v1"', '"v2"')
        wait_until(lambda: "app.py changed -> reloaded in" in project.output(follow), 20, 0.05, "the reload line")
        project.get()
        wait_until(lambda: project.output(follow).count("GET / 200") >= 2, 20, 0.05, "a request after it")
    finally:
        project.stop_background()


def test_down_stops_the_agent_and_leaves_no_process_and_no_container(project, docker_client):
    project.devbox("up", "-d")
    pid = agent_pid(project)
    before = ours(project, pid)
    assert pid in before

    result = project.devbox("down")
    assert f"stopped the agent (pid {pid})" in result.stdout
    assert not detach.alive(pid)
    assert [p for p in before if detach.alive(p)] == []
    assert ours(project, pid) == set()
    assert docker_client.containers.list(all=True, filters={"label": f"devbox.project={project.name}"}) == []
    assert project.devbox("status").stdout.startswith(f"{project.name}  not created")


def test_a_second_up_attaches_to_the_agent_and_never_starts_another(project, docker_client):
    project.devbox("up", "-d")
    pid = agent_pid(project)
    again = project.devbox("up", "-d")
    assert f"already up: agent pid {pid}" in again.stdout
    attached = project.spawn("up")
    wait_until(lambda: "attached to the agent" in project.output(attached), 20, 0.05, "attached")
    edit(project, '"v1"', '"v2"')
    wait_until(lambda: "app.py changed -> reloaded in" in project.output(attached), 20, 0.05,
               "the agent's reload, shown by the attached up")
    attached.send_signal(signal.SIGINT)
    assert attached.wait(20) == 0
    assert "detached; the agent keeps running" in project.output(attached)
    assert agent_pid(project) == pid and detach.alive(pid)
    assert project.get() == (200, "v2\n")


def test_wait_after_a_good_and_after_a_broken_save(project, docker_client):
    project.devbox("up", "-d")
    assert project.devbox("wait").returncode == 0

    edit(project, '"v1"', '"v2"')
    done = project.devbox("wait", "--timeout", "20", check=False)
    assert done.returncode == 0, done.stderr
    assert project.get() == (200, "v2\n")  # at once: what is on disk serves when wait returns

    path = project.root / "app.py"
    path.write_text(path.read_text() + "\ndef broken(:\n")
    failed = project.devbox("wait", "--timeout", "20", check=False)
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines() == ["devbox: app.py:9: SyntaxError: invalid syntax"]

    path.write_text(path.read_text().replace("\ndef broken(:\n", "").replace('"v2"', '"v3"'))
    assert project.devbox("wait", "--timeout", "20", check=False).returncode == 0
    assert project.get() == (200, "v3\n")


def test_wait_and_events_need_an_agent(project):
    for command in ("wait", "events"):
        result = project.devbox(command, check=False)
        assert result.returncode == 1 and "no agent runs for" in result.stderr


def test_the_event_stream_shows_a_save_a_crash_and_a_container_restart(project, docker_client):
    project.devbox("up", "-d")
    stream = subprocess.Popen(DEVBOX + ["events", "--since", "0"], cwd=project.root, stdout=subprocess.PIPE,
                              text=True, env=dict(os.environ))
    seen = []

    def until(predicate, what):
        def look():
            line = stream.stdout.readline()
            if line:
                seen.append(json.loads(line))
            return next((r for r in seen if predicate(r)), None)
        return wait_until(look, 30, 0, what)

    try:
        until(lambda r: r["event"] == "project_up", "the project up")
        edit(project, '"v1"', '"v2"')
        batch = until(lambda r: r["event"] == "batch", "the save")
        assert (batch["action"], batch["changed"], batch["deleted"]) == ("reload", ["app.py"], [])
        reloaded = until(lambda r: r["event"] == "reloaded", "the reload")
        assert reloaded["paths"] == ["app.py"] and reloaded["generation"] == 2
        assert all(isinstance(reloaded[k], float) for k in ("ms", "batch_ms", "signal_ms", "log_ms"))

        path = project.root / "app.py"
        path.write_text(path.read_text() + "\ndef broken(:\n")
        crashed = until(lambda r: r["event"] == "supervisor" and r["kind"] == "crashed", "the crash")
        assert (crashed["file"], crashed["line"], crashed["error"]) == ("app.py", 9, "SyntaxError: invalid syntax")
        assert crashed["summary"] == "app.py:9: SyntaxError: invalid syntax" and crashed["generation"] == 3
        failed = until(lambda r: r["event"] == "reload_failed", "the failed reload")
        assert failed["file"] == "app.py" and failed["seq"] > crashed["seq"]

        container = docker_client.containers.list(filters={"label": f"devbox.project={project.name}"})[0]
        docker_client.api.restart(container.id, timeout=5)
        exited = until(lambda r: r["event"] == "container_exited", "the container exiting")
        started = until(lambda r: r["event"] == "container_started", "the container starting again")
        assert exited["id"] == started["id"] == container.id[:12]
        assert exited["name"] == container.name
        seqs = [r["seq"] for r in seen]
        assert seqs == list(range(1, len(seqs) + 1))  # every record, in order, none lost
    finally:
        stream.terminate()
        stream.wait(10)
