"""Projects with a .devcontainer/devcontainer.json and no devbox.yml, against the real engine.

The configs follow the shapes of the devcontainer templates (Python's `image` one, a Dockerfile
`build`, the docker-compose "app + db" one, a non-root `remoteUser`), with the local test image
in place of registry images.
"""

import json
import os

import pytest

from tests.conftest import free_port
from tests.project import http_get
from tests.waiting import wait_until

APP = '''
import os
import socket

# Read at import: what the lifecycle commands left before the app started.
CREATED = open("created.txt").read().strip() if os.path.exists("created.txt") else "missing"


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/env":
        text = os.environ.get("GREETING", "-") + " " + os.environ.get("PATH", "-")
    elif path == "/created":
        text = CREATED
    elif path == "/stage":
        text = open("/stage").read().strip()
    elif path == "/data":
        text = open("/data/note.txt").read().strip()
    elif path == "/host":
        text = socket.gethostname()
    else:
        text = "ok"
    data = (text + "\\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]
'''


def write_devcontainer(project, config, path=".devcontainer/devcontainer.json", comment=True):
    """devcontainer.json as VS Code writes it: a comment and a trailing comma."""
    text = json.dumps(config, indent=4)
    if comment:
        text = "// For format details, see https://aka.ms/devcontainer.json\n" + text[:-2] + ",\n}\n"
    project.write(path, text)


@pytest.fixture
def dc(project, docker_client):
    """The project fixture without its devbox.yml: only a devcontainer.json will describe it."""
    (project.root / "devbox.yml").unlink()
    project.write("app.py", APP)
    return project


def image_config(project, greeting):
    return {
        "name": project.name,
        "image": project.image,
        "forwardPorts": [project.port],
        "portsAttributes": {str(project.port): {"label": "Application"}},
        "containerEnv": {"GREETING": greeting},
        "remoteEnv": {"PATH": "${containerEnv:PATH}:/opt/extra"},
        "postCreateCommand": {
            "marker": "echo created-by-hook > created.txt",
            "hello": ["python3", "-c", "print('hello from a hook')"],
        },
        "waitFor": "postCreateCommand",
        "customizations": {"devbox": {"app": "app:app"}},
    }


def test_an_image_config_runs_its_hooks_before_the_app_and_a_save_is_applied(dc, docker_client):
    write_devcontainer(dc, image_config(dc, "hello"))
    up = dc.spawn("up")
    wait_until(lambda: "watching" in dc.output(up), 90, 0.05, "devbox up watching")
    out = dc.output(up)
    assert "[devbox] using .devcontainer/devcontainer.json" in out
    assert "[hello]" in out and "hello from a hook" in out  # the object form's output, prefixed by name
    assert f"http://127.0.0.1:{dc.port} (Application)" in out
    # waitFor postCreateCommand: the app imported after the hook wrote its file.
    assert dc.get("/created") == (200, "created-by-hook\n")
    assert (dc.root / "created.txt").read_text() == "created-by-hook\n"  # through the bind mount
    greeting, path = dc.get("/env")[1].split()
    assert greeting == "hello"
    assert path.endswith(":/opt/extra") and "/usr/bin" in path  # ${containerEnv:PATH}: the image's
    container = docker_client.containers.get(f"{dc.name}-devbox")
    bindings = container.attrs["HostConfig"]["PortBindings"][f"{dc.port}/tcp"]
    # On loopback only; an ephemeral port, with devbox's live-reload proxy on the forwarded one.
    assert [b["HostIp"] for b in bindings] == ["127.0.0.1"]
    assert bindings[0]["HostPort"] in ("", "0")
    assert f"http://127.0.0.1:{dc.port} (Application)" in dc.devbox("status").stdout

    write_devcontainer(dc, image_config(dc, "bonjour"))
    dc.wait_body(f"bonjour {path}\n", path="/env")
    wait_until(lambda: "devcontainer.json changed -> container recreated" in dc.output(up), 30, 0.05, "applied")
    assert docker_client.containers.get(f"{dc.name}-devbox").id != container.id
    assert dc.get("/created") == (200, "created-by-hook\n")  # the new container ran its hooks too


def test_a_failing_hook_is_one_line_and_the_later_ones_do_not_run(dc, docker_client):
    config = image_config(dc, "hello")
    config["onCreateCommand"] = "exit 7"
    write_devcontainer(dc, config)
    result = dc.devbox("up", "-d")
    assert "✗ lifecycle command onCreateCommand failed with exit status 7; the later ones were not run" in result.stdout
    assert "hello from a hook" not in result.stdout
    assert dc.get("/created") == (200, "missing\n")  # the app started anyway, without postCreateCommand
    dc.devbox("down")


def test_a_build_config_builds_its_target_with_mounts_and_run_args(dc, docker_client):
    dc.write(".devcontainer/Dockerfile", f"""\
        FROM {dc.image} AS base
        ARG STAGE_NOTE=unset
        FROM base AS dev
        ARG STAGE_NOTE
        RUN echo "dev $STAGE_NOTE" > /stage
        FROM base AS release
        RUN echo release > /stage
        """)
    dc.write("data/note.txt", "mounted\n")
    write_devcontainer(dc, {
        "name": dc.name,
        "build": {"dockerfile": "Dockerfile", "context": "..", "target": "dev", "args": {"STAGE_NOTE": "built"}},
        "appPort": [dc.port],
        "mounts": ["source=${localWorkspaceFolder}/data,target=/data,type=bind,readonly"],
        "runArgs": ["--hostname", "devbox-box"],
        "customizations": {"devbox": {"app": "app:app"}},
    })
    dc.devbox("up", "-d", timeout=240)
    assert dc.get("/stage") == (200, "dev built\n")  # the target stage, not the last one
    assert dc.get("/data") == (200, "mounted\n")
    assert dc.get("/host") == (200, "devbox-box\n")
    dc.devbox("down")


COMPOSE = """\
services:
  app:
    image: {image}
    volumes: [".:/workspace"]
    command: ["sleep", "infinity"]
  api:
    image: {image}
    command: ["python3", "-m", "http.server", "{api}"]
  unused:
    image: {image}
    command: ["sleep", "infinity"]
"""
# The template's second file: what the dev container adds to the app's own compose file.
EXTEND = """\
services:
  app:
    environment: {GREETING: from-the-second-file}
"""


def test_a_compose_config_starts_its_run_services_and_forwards_on_loopback(dc, docker_client):
    api_port = free_port()
    dc.write("docker-compose.yml", COMPOSE.format(image=dc.image, api=api_port))
    dc.write(".devcontainer/docker-compose.extend.yml", EXTEND)
    write_devcontainer(dc, {
        "name": dc.name,
        "dockerComposeFile": ["../docker-compose.yml", "docker-compose.extend.yml"],
        "service": "app",
        "runServices": ["app", "api"],
        "workspaceFolder": "/workspace",
        "forwardPorts": [dc.port, f"api:{api_port}"],
        "postCreateCommand": "echo created-by-hook > created.txt",
        "waitFor": "postCreateCommand",
        "postAttachCommand": ["python3", "-c", "print('attached')"],
        "customizations": {"devbox": {"app": "app:app"}},
    })
    try:
        result = dc.devbox("up", "-d", timeout=240)
        assert "using .devcontainer/devcontainer.json" in result.stdout
        assert "[postAttachCommand] attached" in result.stdout
        assert dc.get("/created") == (200, "created-by-hook\n")  # in the app service, before the app
        assert dc.get("/env")[1].startswith("from-the-second-file ")
        assert http_get(f"http://127.0.0.1:{api_port}/")[0] == 200
        running = {c.labels["com.docker.compose.service"]: c
                   for c in docker_client.containers.list(filters={"label": f"com.docker.compose.project={dc.name}"})}
        assert sorted(running) == ["api", "app"]  # `unused` is not in runServices
        api = running["api"].attrs["HostConfig"]["PortBindings"][f"{api_port}/tcp"]
        assert [b["HostIp"] for b in api] == ["127.0.0.1"]
    finally:
        dc.devbox("down", check=False, timeout=120)


def test_a_remote_user_writes_bind_mounted_files_as_the_host_user(dc, docker_client, monkeypatch):
    """The host user here is root, which updateRemoteUserUID leaves alone (another account, root,
    has uid 0); the host facts are those of a developer with uid 4321 (mocked: no such login
    with access to the engine exists here). The project belongs to that user, as it would."""
    from devbox import config, engine
    from devbox import plan as planning
    from devbox import session as sessions

    dc.write(".devcontainer/Dockerfile", f"""\
        FROM {dc.image}
        RUN echo 'vscode:x:1000:1000::/home/vscode:/bin/sh' >> /etc/passwd \\
         && echo 'vscode:x:1000:' >> /etc/group && mkdir -p /home/vscode && chown 1000:1000 /home/vscode
        """)
    write_devcontainer(dc, {
        "name": dc.name,
        "build": {"dockerfile": "Dockerfile"},
        "forwardPorts": [dc.port],
        "remoteUser": "vscode",
        "postCreateCommand": "touch made-by-hook && id -u > uid.txt",
        "waitFor": "postCreateCommand",
        "customizations": {"devbox": {"command": ["sh", "-c", "touch made-by-app; exec python3 -m http.server "
                                                               f"{dc.port}"], "listen": "self"}},
    })
    for path in [dc.root, *dc.root.rglob("*")]:
        os.chown(path, 4321, 4321)
    monkeypatch.setattr(sessions, "host_facts", lambda remote, forward=False, bus=False: planning.HostFacts(uid=4321, gid=4321))
    session = sessions.Session(config.load(dc.root / ".devcontainer/devcontainer.json"), engine.connect())
    try:
        container, stream = session.up()
        stream.close()
        wait_until(lambda: (dc.root / "made-by-app").exists(), 30, 0.05, "the app's file")
        for name in ("made-by-hook", "made-by-app", "uid.txt"):
            info = os.stat(dc.root / name)
            assert (info.st_uid, info.st_gid) == (4321, 4321), name
        assert (dc.root / "uid.txt").read_text() == "4321\n"
        home = container.exec_run(["stat", "-c", "%u", "/home/vscode"]).output.decode().strip()
        assert home == "4321"
    finally:
        session.down()
