"""`devbox up` and friends against the real engine: lifecycle, reuse, ports, ownership, stop."""

import os
import socket
import time

import pytest

from tests.waiting import wait_until


def project_containers(client, name):
    return client.containers.list(all=True, filters={"label": f"devbox.project={name}"})


def test_up_reload_status_logs_down(project, docker_client):
    project.devbox("up", "-d")
    assert project.get() == (200, "v1\n")

    project.write("app.py", (project.root / "app.py").read_text().replace('"v1"', '"v2"'))
    result = project.devbox("reload")
    assert "reloaded in" in result.stdout
    assert project.get() == (200, "v2\n")

    status = project.devbox("status").stdout
    assert project.name in status and "running" in status
    assert f"http://127.0.0.1:{project.port}" in status
    assert "reloads 1" in status

    logs = project.devbox("logs").stdout
    assert "GET / " in logs

    project.devbox("down")
    assert project_containers(docker_client, project.name) == []


def test_unchanged_config_reuses_changed_config_recreates(project, docker_client):
    project.devbox("up", "-d")
    first = project_containers(docker_client, project.name)[0].id
    project.devbox("up", "-d")
    assert [c.id for c in project_containers(docker_client, project.name)] == [first]

    project.write_config(extra="env: {GREETING: hi}\n")
    project.devbox("up", "-d")
    after = project_containers(docker_client, project.name)
    assert len(after) == 1 and after[0].id != first
    assert "GREETING=hi" in after[0].attrs["Config"]["Env"]
    assert project.get() == (200, "v1\n")


def test_ports_bind_loopback_and_files_belong_to_host_user(project, docker_client):
    project.devbox("up", "-d")
    container = project_containers(docker_client, project.name)[0]
    bindings = container.attrs["HostConfig"]["PortBindings"]
    assert {b["HostIp"] for v in bindings.values() for b in v} == {"127.0.0.1"}

    project.devbox("exec", "sh", "-c", "echo made-inside > created.txt")
    made = project.root / "created.txt"
    assert made.read_text() == "made-inside\n"
    assert (made.stat().st_uid, made.stat().st_gid) == (os.getuid(), os.getgid())


# In the container, as the supervisor's launcher starts: every source compiled is recorded.
IMPORTS_WITHOUT_COMPILING = """
import os, sys
from importlib import machinery
compiled = []
original = machinery.SourceFileLoader.source_to_code
def source_to_code(self, data, path, *args, **kwargs):
    compiled.append(path)
    return original(self, data, path, *args, **kwargs)
machinery.SourceFileLoader.source_to_code = source_to_code
sys.path.insert(0, "/opt/devbox")
exec(PRIVATE_CACHES)
import devbox.supervisor.__main__, devbox.supervisor.parent, devbox.supervisor.warm, devbox.supervisor.child
import devbox.supervisor.template, devbox.supervisor.httpserver, devbox.supervisor.spawn
ours = [m for m in sys.modules.values() if (getattr(m, "__file__", None) or "").startswith("/opt/devbox/")]
print(len(ours), "modules;", "compiled:", [p for p in compiled if p.startswith("/opt/devbox/")])
"""


@pytest.mark.parametrize("sync", ["bind", "copy"])
def test_the_supervisor_starts_from_the_bytecode_shipped_with_it(project, docker_client, sync):
    from devbox.supervisor import protocol

    project.write_config(extra=f"sync: {sync}\n")
    project.devbox("up", "-d")
    assert project.get() == (200, "v1\n")
    # The supervisor, its template and its child wrote no cache of devbox's modules under the
    # container's prefix (they compiled none); and a fresh interpreter imports them uncompiled.
    written = project.devbox("exec", "find", "/tmp/devbox-pycache", "-path", "*opt/devbox*", "-name", "*.pyc").stdout
    assert written.strip() == ""
    check = IMPORTS_WITHOUT_COMPILING.replace("PRIVATE_CACHES", repr(protocol.PRIVATE_CACHES))
    said = project.devbox("exec", "python3", "-c", check).stdout.strip()
    count, _, compiled = said.partition(" modules; compiled: ")
    assert int(count) >= 10 and compiled == "[]", said


def test_docker_stop_is_fast(project, docker_client):
    project.devbox("up", "-d")
    container = project_containers(docker_client, project.name)[0]
    started = time.monotonic()
    container.stop(timeout=10)
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, f"docker stop took {elapsed:.1f} s: the supervisor ignored SIGTERM"


def test_down_when_nothing_is_up(project):
    result = project.devbox("down")
    assert "nothing to remove" in result.stdout


def test_foreground_up_reloads_on_save_and_stops_on_ctrl_c(project, docker_client):
    process = project.spawn("up")
    wait_until(lambda: "serving" in project.output(process), 60, 0.05, "devbox up serving")
    project.wait_body("v1\n")
    wait_until(lambda: "watching" in project.output(process), 10, 0.05, "watcher started")
    project.write("app.py", (project.root / "app.py").read_text().replace('"v1"', '"v2"'))
    project.wait_body("v2\n")
    wait_until(lambda: "reloaded in" in project.output(process), 10, 0.05, "reload line")
    process.send_signal(2)
    assert process.wait(20) == 0
    assert "stopped in" in project.output(process)
    assert [c.status for c in project_containers(docker_client, project.name)] == ["exited"]


# -- bad input and faults ------------------------------------------------------------------------

def test_image_missing_and_unpullable_leaves_nothing(project, docker_client):
    project.image = "devbox-test-no-such-image:never"
    project.write_config()
    result = project.devbox("up", "-d", check=False)
    assert result.returncode == 1
    assert "devbox-test-no-such-image:never" in result.stderr and "cannot be pulled" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert project_containers(docker_client, project.name) == []


def test_port_in_use_is_a_clear_error_and_removes_the_container(project, docker_client):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", project.port))
        taken.listen()
        result = project.devbox("up", "-d", check=False)
    assert result.returncode == 1
    assert f"port {project.port} on 127.0.0.1 is already in use" in result.stderr
    assert "Nothing was started" in result.stderr
    assert project_containers(docker_client, project.name) == []


def test_engine_down_says_how_to_start_one(project, tmp_path):
    result = project.devbox("up", "-d", check=False, env={"DOCKER_HOST": f"unix://{tmp_path}/none.sock"})
    assert result.returncode == 1
    assert result.stderr.startswith("devbox: cannot reach the Docker engine at unix://")
    assert "start" in result.stderr


def test_ctrl_c_while_starting_leaves_nothing_running(project, docker_client):
    # An app whose import blocks: `up` is then inside "start, wait for ready" when Ctrl-C comes.
    project.write("slow.py", "import time\ntime.sleep(600)\napp = None\n")
    project.write_config(app="slow:app")
    process = project.spawn("up")
    wait_until(lambda: [c for c in project_containers(docker_client, project.name) if c.status == "running"],
               60, 0.05, "container started")
    process.send_signal(2)
    assert process.wait(30) == 130
    assert project_containers(docker_client, project.name) == []


def test_ctrl_c_during_build_leaves_nothing(project, docker_client, test_image):
    project.write("docker/Dockerfile", f"FROM {test_image}\nRUN sleep 600\n")
    project.write("devbox.yml", f"name: {project.name}\nbuild: {{context: ., dockerfile: docker/Dockerfile}}\n"
                                f"app: app:app\nports: ['{project.port}']\n")
    process = project.spawn("up", "-v")
    wait_until(lambda: "RUN sleep 600" in project.output(process), 60, 0.05, "build at its slow step")
    process.send_signal(2)
    assert process.wait(30) == 130
    assert project_containers(docker_client, project.name) == []
    assert not docker_client.images.list(name=f"devbox-{project.name}")


def test_a_local_engines_status_file_is_read_through_proc_without_an_exec(project, docker_client):
    from devbox import status

    project.devbox("up", "-d")
    container = project_containers(docker_client, project.name)[0]
    execs = []
    container.exec_run = lambda *args, **kwargs: execs.append(args)
    read = status.read_supervisor_status(container, local=True)
    assert read.get("child_pid") and execs == [], (read, execs)


def test_a_commands_shim_loads_its_modules_from_the_shipped_bytecode(project, docker_client):
    from devbox.supervisor import protocol

    project.devbox("up", "-d")
    # A command's Python, as the supervisor starts it: the shim first on its path, no bytecode written.
    shim = f"{protocol.INSTALL_ROOT}/devbox/supervisor/{protocol.SHIM_DIR}"
    result = project.devbox("exec", "env", f"PYTHONPATH={shim}", f"{protocol.ENV_PROJECT_DIR}=/app",
                            "PYTHONDONTWRITEBYTECODE=1", "python3", "-v", "-c", "pass")
    assert "Error in sitecustomize" not in result.stderr, result.stderr[-2000:]
    loaded = [line for line in result.stderr.splitlines() if line.startswith("# code object from") and "/opt/devbox/" in line]
    assert any("__pycache__/protocol." in line for line in loaded) and any("__pycache__/bytecode." in line for line in loaded), loaded
