"""Remote engines for real: this machine's engine behind an OpenSSH server on 127.0.0.1, used as
`DOCKER_HOST=ssh://root@127.0.0.1:PORT`, so devbox copies the project in and forwards ports
over ssh exactly as it does for a VM."""

import hashlib
import io
import json
import os
import random
import signal
import socket
import stat
import tarfile

import pytest

from tests.sshd import SshServer
from tests.waiting import wait_until


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    server = SshServer(tmp_path_factory.mktemp("sshd")).start()
    yield server
    server.stop()


@pytest.fixture
def remote(sshd, project, docker_client):
    """The environment that makes `project`'s devbox use the engine over ssh. Any forward a
    failing test left behind is stopped by its recorded pid."""
    env = sshd.env()
    yield env
    from devbox.tunnel import Tunnel, state_dir

    for state in state_dir(env).glob(f"{project.name}-*.json"):
        tunnel = Tunnel.recorded(state)
        if tunnel is not None:
            tunnel.stop()


def project_container(client, name):
    found = client.containers.list(all=True, filters={"label": f"devbox.project={name}"})
    assert len(found) == 1, found
    return found[0]


def recorded_forward(env, name):
    """(pid, state file) of the project's recorded ssh forward."""
    from devbox.tunnel import state_dir

    states = list(state_dir(env).glob(f"{name}-*.json"))
    assert len(states) == 1, states
    return json.loads(states[0].read_text())["pid"], states[0]


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def accepts(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def container_tree(container, workdir="/app"):
    """{relative path: (kind, sha256 or link target, mode, uid, gid)} of the container's workdir."""
    chunks, _ = container.get_archive(workdir)
    tree = {}
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        for member in tar.getmembers():
            rel = member.name.split("/", 1)[1] if "/" in member.name else ""
            if member.isfile():
                digest = hashlib.sha256(tar.extractfile(member).read()).hexdigest()
                tree[rel] = ("file", digest, stat.S_IMODE(member.mode), member.uid, member.gid)
            elif member.issym():
                tree[rel] = ("link", member.linkname, None, member.uid, member.gid)
            elif member.isdir():
                tree[rel] = ("dir", None, member.mode, member.uid, member.gid)
    return tree


def host_tree(root, rels):
    tree = {}
    for rel in rels:
        path = root / rel
        tree[rel] = ("file", hashlib.sha256(path.read_bytes()).hexdigest(), stat.S_IMODE(path.stat().st_mode), 0, 0)
    return tree


def exists_in(container, path):
    return container.exec_run(["test", "-e", path]).exit_code == 0


def test_foreground_up_over_ssh_copies_forwards_reloads_deletes_and_cleans_up(project, remote, docker_client, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("OUTSIDE-SECRET\n")
    project.write("extra.txt", "extra\n")
    project.write("pkg/data.txt", "data\n")
    os.symlink(outside / "secret.txt", project.root / "leak")
    os.symlink(outside, project.root / "leakdir")

    process = project.spawn("up", env=remote)
    wait_until(lambda: "watching" in project.output(process), 90, 0.05, "devbox up watching")
    container = project_container(docker_client, project.name)

    # No bind mount: the project was copied. The engine publishes on its loopback at a port it
    # picked; this machine's configured port is the ssh forward's.
    assert container.attrs["Mounts"] == [] and not container.attrs["HostConfig"].get("Binds")
    published = container.attrs["NetworkSettings"]["Ports"][f"{project.port}/tcp"]
    assert [b["HostIp"] for b in published] == ["127.0.0.1"] and int(published[0]["HostPort"]) != project.port
    pid, state = recorded_forward(remote, project.name)
    assert alive(pid)
    assert f"serving http://127.0.0.1:{project.port}" in project.output(process)
    project.wait_body("v1\n")

    # An edit is copied and reloaded.
    project.write("app.py", (project.root / "app.py").read_text().replace('"v1"', '"v2"'))
    project.wait_body("v2\n")
    wait_until(lambda: "reloaded in" in project.output(process), 10, 0.05, "reload line")

    # Deleted files and directories disappear; new ones appear.
    (project.root / "extra.txt").unlink()
    wait_until(lambda: not exists_in(container, "/app/extra.txt"), 20, 0.05, "extra.txt removed in the container")
    (project.root / "pkg" / "data.txt").unlink()
    (project.root / "pkg").rmdir()
    wait_until(lambda: not exists_in(container, "/app/pkg"), 20, 0.05, "pkg/ removed in the container")
    project.write("new/mod.txt", "new\n")
    wait_until(lambda: exists_in(container, "/app/new/mod.txt"), 20, 0.05, "new/mod.txt in the container")

    # Symlinks are links: nothing from outside the project came in.
    tree = container_tree(container)
    assert tree["leak"][:2] == ("link", str(outside / "secret.txt"))
    assert tree["leakdir"][:2] == ("link", str(outside))
    assert not any(rel.startswith("leakdir/") for rel in tree)
    assert container.exec_run(["grep", "-r", "OUTSIDE-SECRET", "/app"]).exit_code == 1
    assert container.exec_run(["cat", "/app/leakdir/secret.txt"]).exit_code != 0

    # Ctrl-C: the container stops, the forward goes with it.
    process.send_signal(signal.SIGINT)
    assert process.wait(30) == 0, project.output(process)
    assert "stopped in" in project.output(process)
    assert not alive(pid) and not state.exists()
    assert not accepts(project.port)
    assert project_container(docker_client, project.name).status == "exited"


def test_detached_up_copies_200_files_intact_and_down_stops_the_forward(project, remote, docker_client):
    rng = random.Random(1234)
    rels = []
    for i in range(200):
        rel = f"pkg{i % 7}/sub{i % 3}/file{i:03d}.{'py' if i % 2 else 'bin'}"
        path = project.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(rng.randrange(0, 40_000)))
        if i % 10 == 0:
            path.chmod(0o755)
        rels.append(rel)
    project.write(".gitignore", "*.log\n")
    project.write("server.log", "ignored\n")
    project.write("__pycache__/app.cpython-311.pyc", "ignored\n")

    result = project.devbox("up", "-d", env=remote)
    assert "copied 203 files" in result.stdout  # the 200, app.py, devbox.yml, .gitignore; no ignored ones
    container = project_container(docker_client, project.name)
    tree = container_tree(container)
    files = {rel: entry for rel, entry in tree.items() if entry[0] == "file"}
    expected = host_tree(project.root, rels + ["app.py", "devbox.yml", ".gitignore"])
    assert files == expected
    assert tree[""][0] == "dir" and tree[""][3:] == (0, 0)  # the workdir belongs to the container's user
    assert project.get() == (200, "v1\n")

    pid, state = recorded_forward(remote, project.name)
    assert alive(pid)
    status = project.devbox("status", env=remote).stdout
    assert f"http://127.0.0.1:{project.port}" in status and "running" in status

    result = project.devbox("down", env=remote)
    assert "stopped the agent" in result.stdout  # the forward is the agent's: it stopped with it
    assert not alive(pid) and not state.exists()
    assert not accepts(project.port)
    assert docker_client.containers.list(all=True, filters={"label": f"devbox.project={project.name}"}) == []


def test_local_port_taken_is_one_clear_line_and_nothing_runs(project, remote, docker_client):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", project.port))
        taken.listen()
        result = project.devbox("up", "-d", env=remote, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert f"port {project.port} on 127.0.0.1 is already in use on this machine" in result.stderr
    assert docker_client.containers.list(filters={"label": f"devbox.project={project.name}"}) == []


@pytest.mark.parametrize("case, expected", [
    ("auth", "ssh refused the login to daemon@127.0.0.1"),
    ("unreachable", "cannot reach root@127.0.0.1"),
])
def test_ssh_failures_are_one_clear_line(project, sshd, case, expected):
    from tests.conftest import free_port

    env = sshd.env(user="daemon") if case == "auth" else sshd.env(port=free_port())
    result = project.devbox("up", "-d", env=env, check=False)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"devbox: {expected}")


def test_sync_copy_forced_on_a_local_engine(project, docker_client):
    project.write_config(extra="sync: copy\n")
    project.devbox("up", "-d")
    container = project_container(docker_client, project.name)
    assert container.attrs["Mounts"] == []
    assert project.get() == (200, "v1\n")
    assert container.exec_run(["cat", "/app/app.py"]).output.decode() == (project.root / "app.py").read_text()


def not_reached(project):
    """No answer from the app: the connection fails, or the proxy answers 502 (it found nothing)."""
    try:
        status, _ = project.get()
    except OSError:
        return True
    return status == 502


def test_a_vm_refusing_forwards_says_so(project, docker_client, tmp_path):
    strict = SshServer(tmp_path / "strict-sshd", forwarding=False).start()
    env = strict.env()
    try:
        process = project.spawn("up", env=env)
        wait_until(lambda: "watching" in project.output(process), 90, 0.05, "devbox up watching")
        # The local port takes the connection (devbox's live-reload proxy, in front of the
        # forward); the VM refuses to carry it, so the app is never reached.
        assert not_reached(project)
        wait_until(lambda: "ssh: open failed" in project.output(process), 20, 0.05, "ssh's refusal relayed")
        assert "AllowTcpForwarding yes" in project.output(process)
        assert not_reached(project)
        assert project.output(process).count("ssh: open failed") == 1  # said once, not per request
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
    finally:
        project.stop_background()
        strict.stop()


def test_a_killed_forward_is_started_again_and_the_app_answers_at_the_same_url(project, remote):
    process = project.spawn("up", env=remote)
    wait_until(lambda: "watching" in project.output(process), 90, 0.05, "devbox up watching")
    project.wait_body("v1\n")
    pid, _ = recorded_forward(remote, project.name)
    os.kill(pid, signal.SIGKILL)  # ssh killed (an OOM kill, a `pkill ssh`): the forward ends
    wait_until(lambda: "the ssh port forward ended" in project.output(process), 20, 0.05, "the loss said")
    wait_until(lambda: "listens again" in project.output(process), 30, 0.05, "the forward reopened")
    new_pid, _ = recorded_forward(remote, project.name)
    assert new_pid != pid and alive(new_pid) and not alive(pid)
    project.wait_body("v1\n")
    project.write("app.py", (project.root / "app.py").read_text().replace('"v1"', '"v2"'))
    project.wait_body("v2\n")  # the watcher carried on through it
    process.send_signal(signal.SIGINT)
    assert process.wait(30) == 0, project.output(process)
    assert not alive(new_pid)
