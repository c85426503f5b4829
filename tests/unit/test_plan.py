"""Config -> ContainerSpec, without Docker."""

from devbox import config as configuration
from devbox import plan


def load(tmp_path, text):
    (tmp_path / "devbox.yml").write_text(text)
    return configuration.load(tmp_path / "devbox.yml", environ={})


def test_three_line_file_plans_a_loopback_bound_supervised_container(tmp_path):
    cfg = load(tmp_path, "name: hello\nimage: python:3.12-slim\napp: app:app\n")
    spec = plan.plan(cfg, plan.HostFacts(uid=1000, gid=1000))
    kwargs = spec.create_kwargs()
    assert kwargs["name"] == "hello-devbox"
    assert kwargs["ports"] == {"8000/tcp": ("127.0.0.1", 8000)}
    assert kwargs["volumes"] == {str(tmp_path.resolve()): {"bind": "/app", "mode": "rw"}}
    # the supervisor's files, read-only, from a host copy in the project's state dir
    assert kwargs["mounts"] == [{"Type": "bind", "Source": str(tmp_path.resolve() / ".devbox" / "supervisor"),
                                 "Target": plan.SUPERVISOR_ROOT, "ReadOnly": True}]
    assert kwargs["user"] == "1000:1000"
    assert kwargs["working_dir"] == "/app"
    assert kwargs["command"][:2] == ["python3", plan.SUPERVISOR_LAUNCHER]
    assert kwargs["command"][-2:] == ["--app", "app:app"]
    assert kwargs["labels"]["devbox.project"] == "hello"
    assert kwargs["stop_signal"] == "SIGTERM"
    assert spec.urls == ("http://127.0.0.1:8000",)
    assert "/var/run/docker.sock" not in str(kwargs)


def test_remote_engine_copies_and_keeps_the_image_user(tmp_path):
    cfg = load(tmp_path, "app: app:app\n")
    spec = plan.plan(cfg, plan.HostFacts(uid=1000, gid=1000, remote=True))
    assert spec.sync == "copy"
    assert "volumes" not in spec.create_kwargs() and "mounts" not in spec.create_kwargs()  # put_archive
    assert spec.user is None


def test_command_mode_passes_listen_and_command(tmp_path):
    cfg = load(tmp_path, "command: uvicorn main:app --fd 3\nports: ['9000:8000']\n")
    spec = plan.plan(cfg, plan.HostFacts())
    assert spec.command[spec.command.index("--listen") + 1] == "fd"
    assert list(spec.command[spec.command.index("--"):]) == ["--", "uvicorn", "main:app", "--fd", "3"]
    assert spec.create_kwargs()["ports"] == {"8000/tcp": ("127.0.0.1", 9000)}
    assert dict(spec.env)["PYTHONDONTWRITEBYTECODE"] == "1"  # no stale bytecode after fast saves


def test_config_hash_changes_with_config_image_and_supervisor_only(tmp_path):
    cfg = load(tmp_path, "app: app:app\n")
    facts = plan.HostFacts(uid=0, gid=0)
    base = plan.plan(cfg, facts, image_id="sha256:a", supervisor_digest="s1").config_hash
    assert plan.plan(cfg, facts, image_id="sha256:a", supervisor_digest="s1").config_hash == base
    assert plan.plan(cfg, facts, image_id="sha256:b", supervisor_digest="s1").config_hash != base
    assert plan.plan(cfg, facts, image_id="sha256:a", supervisor_digest="s2").config_hash != base
    changed = load(tmp_path, "app: app:app\nenv: {A: '1'}\n")
    assert plan.plan(changed, facts, image_id="sha256:a", supervisor_digest="s1").config_hash != base


def test_reload_and_preload_settings_become_supervisor_flags(tmp_path):
    default = plan.plan(load(tmp_path, "app: app:app\n"), plan.HostFacts()).command
    assert not {"--no-warm", "--no-overlap", "--preload"} & set(default)  # on by default
    cfg = load(tmp_path, "app: app:app\nreload: {warm: false, overlap: false}\npreload: [numpy, shop.models]\n")
    command = plan.plan(cfg, plan.HostFacts()).command
    assert {"--no-warm", "--no-overlap"} <= set(command)
    assert command[command.index("--preload") + 1] == "numpy,shop.models"
    assert command[-2:] == ("--app", "app:app")


def test_a_command_without_a_port_binds_nothing_for_the_supervisor_to_hold():
    """`python worker.py` defaults to listen fd, but with no port there is no socket to hold."""
    from devbox import supervisor_argv

    args = supervisor_argv.supervisor_args(command=["python3", "worker.py"], listen="fd")
    assert args[args.index("--listen") + 1] == "self" and "--port" not in args
    args = supervisor_argv.supervisor_args(command=["python3", "app.py"], listen="fd", port=8000)
    assert args[args.index("--listen") + 1] == "fd"
