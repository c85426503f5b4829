"""What devcontainer.json's container settings become in the ContainerSpec, without Docker."""

import json

from devbox import config as configuration
from devbox import gate
from devbox import plan


def load(tmp_path, **keys):
    folder = tmp_path / ".devcontainer"
    folder.mkdir(exist_ok=True)
    (tmp_path / "app.py").write_text("def app(environ, start_response): pass\n")
    serve = {"customizations": {"devbox": {"app": "app:app"}}}
    (folder / "devcontainer.json").write_text(json.dumps({"name": "dc", "image": "img", **serve, **keys}))
    return configuration.load(folder / "devcontainer.json", environ={})


def test_mounts_workspace_mount_and_run_args_reach_docker(tmp_path):
    cfg = load(tmp_path, mounts=["type=volume,source=cache,target=/cache"],
               workspaceMount=f"source={tmp_path},target=/src,type=bind", workspaceFolder="/src/app",
               runArgs=["--cap-add", "SYS_PTRACE", "--label", "team=web", "--hostname", "box"])
    kwargs = plan.plan(cfg, plan.HostFacts(uid=1000, gid=1000)).create_kwargs()
    assert "volumes" not in kwargs  # the workspace mount replaces the project's own
    assert kwargs["mounts"] == [
        {"Type": "bind", "Source": str(tmp_path), "Target": "/src", "ReadOnly": False},
        {"Type": "volume", "Source": "cache", "Target": "/cache", "ReadOnly": False},
        {"Type": "bind", "Source": str(tmp_path / ".devbox" / "supervisor"), "Target": "/opt/devbox", "ReadOnly": True},
    ]
    assert kwargs["cap_add"] == ["SYS_PTRACE"] and kwargs["hostname"] == "box"
    assert kwargs["labels"]["team"] == "web" and kwargs["labels"]["devbox.project"] == "dc"
    assert kwargs["working_dir"] == "/src/app"


def test_a_remote_user_gets_the_host_uid_on_a_linux_bind_mount_only(tmp_path):
    cfg = load(tmp_path, remoteUser="vscode")
    assert plan.plan(cfg, plan.HostFacts(uid=1000, gid=1001)).user_uid == (1000, 1001)
    assert plan.plan(cfg, plan.HostFacts(uid=1000, gid=1001)).user == "vscode"
    assert plan.plan(cfg, plan.HostFacts(uid=1000, gid=1001, remote=True)).user_uid is None
    assert plan.plan(cfg, plan.HostFacts()).user_uid is None  # not Linux
    assert plan.plan(load(tmp_path, remoteUser="vscode", updateRemoteUserUID=False),
                     plan.HostFacts(uid=1000, gid=1000)).user_uid is None
    assert plan.plan(load(tmp_path, remoteUser="root"), plan.HostFacts(uid=1000, gid=1000)).user_uid is None


def test_container_env_comes_from_the_image_and_changes_the_hash(tmp_path):
    cfg = load(tmp_path, remoteEnv={"PATH": "${containerEnv:PATH}:/extra"})
    one = plan.plan(cfg, plan.HostFacts(), image_env={"PATH": "/usr/bin"})
    two = plan.plan(cfg, plan.HostFacts(), image_env={"PATH": "/bin"})
    assert dict(one.env)["PATH"] == "/usr/bin:/extra"
    assert one.config_hash != two.config_hash


def test_a_wait_for_command_gates_the_supervisor(tmp_path):
    spec = plan.plan(load(tmp_path, onCreateCommand="pip install -e ."), plan.HostFacts())
    assert spec.gated and spec.command[:2] == gate.launch_argv()
    spec = plan.plan(load(tmp_path, postStartCommand="echo later"), plan.HostFacts())
    assert not spec.gated and spec.command[:2] == plan.launch_argv()


def compose_config(tmp_path, **keys):
    (tmp_path / "docker-compose.yml").write_text("services:\n  app: {image: img}\n  db: {image: img}\n")
    return load(tmp_path, dockerComposeFile=["../docker-compose.yml"], service="app", workspaceFolder="/workspace",
                customizations={"devbox": {"app": "app:app"}}, **keys)


def test_a_compose_config_publishes_its_forwards_on_loopback_and_runs_in_the_workspace(tmp_path):
    from devbox.compose.override import plan_override

    cfg = compose_config(tmp_path, forwardPorts=[8000, "db:5432"])
    services = plan_override(cfg, {}, None)["services"]
    assert services["app"]["ports"] == ["127.0.0.1:8000:8000"]
    assert services["db"] == {"ports": ["127.0.0.1:5432:5432"]}  # not supervised: only published
    assert services["app"]["working_dir"] == "/workspace"
    assert services["app"]["command"][:2] == list(plan.launch_argv())


def test_a_compose_config_waiting_for_a_command_gates_its_service(tmp_path):
    from devbox.compose.override import plan_override

    cfg = compose_config(tmp_path, onCreateCommand="pip install -e .")
    assert plan_override(cfg, {}, None)["services"]["app"]["command"][:2] == list(gate.launch_argv())
