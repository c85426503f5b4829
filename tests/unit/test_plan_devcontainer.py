"""What devcontainer.json's container settings become in the ContainerSpec, without Docker."""

import json

from devbox import config as configuration
from devbox import gate
from devbox import plan


def load(tmp_path, **keys):
    folder = tmp_path / ".devcontainer"
    folder.mkdir(exist_ok=True)
    (tmp_path / "app.py").write_text("def app(environ, start_response): pass\n")
    (folder / "devcontainer.json").write_text(json.dumps({"name": "dc", "image": "img", **keys}))
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
