"""Remote engines without an engine: which engines are remote, what the plan publishes behind an
ssh forward, how ssh failures read, how a forward is recognised."""

import socket

import pytest

from devbox import config as configuration
from devbox import engine, plan, ssh, tunnel
from devbox.errors import ForwardError, RemoteError


def load(tmp_path, text):
    (tmp_path / "devbox.yml").write_text(text)
    return configuration.load(tmp_path / "devbox.yml", environ={})


@pytest.mark.parametrize("url, remote", [
    ("unix:///var/run/docker.sock", False), ("npipe:////./pipe/docker_engine", False),
    ("tcp://127.0.0.1:2375", False), ("tcp://localhost:2376", False), ("tcp://[::1]:2375", False),
    ("tcp://10.0.0.5:2376", True), ("tcp://vm.example:2376", True),
    ("ssh://me@vm", True), ("ssh://root@127.0.0.1:2222", True),  # ssh: the engine's files are not ours
])
def test_is_remote(url, remote):
    assert engine.is_remote(url) is remote


@pytest.mark.parametrize("sync, remote, mode", [
    ("auto", False, "bind"), ("auto", True, "copy"), ("copy", False, "copy"), ("bind", False, "bind"),
])
def test_sync_mode(tmp_path, sync, remote, mode):
    cfg = load(tmp_path, f"app: app:app\nsync: {sync}\n")
    assert plan.sync_mode(cfg, plan.HostFacts(remote=remote)) == mode
    assert plan.plan(cfg, plan.HostFacts(remote=remote)).sync == mode


def test_behind_an_ssh_forward_the_engine_picks_loopback_ports_and_urls_stay_local(tmp_path):
    cfg = load(tmp_path, "app: app:app\nports: ['8000', '9000:80']\n")
    facts = plan.HostFacts(remote=True, forward=True)
    spec = plan.plan(cfg, facts)
    assert spec.create_kwargs()["ports"] == {"8000/tcp": ("127.0.0.1", None), "80/tcp": ("127.0.0.1", None)}
    assert spec.forwards == (("127.0.0.1", 8000, 8000), ("127.0.0.1", 9000, 80))
    assert spec.urls == ("http://127.0.0.1:8000", "http://127.0.0.1:9000")
    # The local ports are the forward's business: changing one does not recreate the container.
    moved = load(tmp_path, "app: app:app\nports: ['8001:8000', '9001:80']\n")
    assert plan.plan(moved, facts).config_hash == spec.config_hash


def test_destination_and_command_follow_docker_py():
    dest = ssh.Destination.from_url("ssh://me@vm.example:2222")
    assert (dest.user, dest.host, dest.port, str(dest)) == ("me", "vm.example", 2222, "me@vm.example:2222")
    command = dest.command("docker", "info", options=["-N"])
    assert command[0] == "ssh" and "BatchMode=yes" in command and "-N" in command
    assert command[-5:] == ["2222", "--", "vm.example", "docker", "info"]
    assert ssh.Destination.from_url("ssh://vm").command()[-2:] == ["--", "vm"]
    with pytest.raises(RemoteError):
        ssh.Destination.from_url("tcp://vm:2375")


@pytest.mark.parametrize("stderr, expected", [
    ("me@vm: Permission denied (publickey).\n", "ssh refused the login to me@vm"),
    ("ssh: connect to host vm port 22: Connection refused\n", "cannot reach me@vm over ssh"),
    ("ssh: Could not resolve hostname vm: Name or service not known\n", "cannot reach me@vm over ssh"),
    ("ssh: connect to host vm port 22: Connection timed out\n", "cannot reach me@vm over ssh"),
    ("Host key verification failed.\n", "ssh does not trust the host key of me@vm"),
    ("something odd\n", "ssh to me@vm failed: something odd"),
])
def test_ssh_failures_read_as_one_line(stderr, expected):
    error = ssh.explain(ssh.Destination("vm", "me"), stderr)
    assert error.message.startswith(expected)
    assert "\n" not in str(error) and "ssh -p" not in error.hint and "me@vm" in error.hint


@pytest.mark.parametrize("text, parsed", [
    ("18.09.1", (18, 9, 1)), ("20.10.24+dfsg1", (20, 10, 24)), ("1.41", (1, 41)), ("", ()), ("dev", ()),
])
def test_version_tuple(text, parsed):
    assert ssh.version_tuple(text) == parsed


def test_old_engines_are_refused_with_the_version_needed():
    ssh.check_engine_version("ssh://vm", "20.10.24", "1.41")
    with pytest.raises(RemoteError, match=r"too old \(Docker 18.06.3, API 1.38\): devbox needs Docker 18.09"):
        ssh.check_engine_version("ssh://vm", "18.06.3", "1.38")


def test_forward_failure_names_the_local_port():
    forwards = [tunnel.Forward("127.0.0.1", 8000, 49153, 8000)]
    stderr = ("bind [127.0.0.1]:8000: Address already in use\n"
              "channel_setup_fwd_listener_tcpip: cannot listen to port: 8000\nCould not request local forwarding.\n")
    error = tunnel._failure(ssh.Destination("vm"), forwards, stderr, 255)
    assert isinstance(error, ForwardError) and "port 8000 on 127.0.0.1 is already in use on this machine" in str(error)
    denied = tunnel._failure(ssh.Destination("vm"), forwards, "vm: Permission denied (publickey).\n", 255)
    assert isinstance(denied, RemoteError) and "refused the login" in str(denied)


def test_check_free_refuses_a_taken_port():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ForwardError, match=f"port {port} on 127.0.0.1 is already in use"):
            tunnel.check_free([("127.0.0.1", port)])
    tunnel.check_free([("127.0.0.1", port)])


def test_a_forward_is_recognised_through_an_ssh_wrapper_and_nothing_else():
    ours = ["ssh", "-o", "BatchMode=yes", "-N", "-L", "127.0.0.1:8000:127.0.0.1:49153", "--", "vm"]
    assert tunnel._same_ssh(list(ours), ours)
    assert tunnel._same_ssh(["/usr/bin/ssh", "-F", "/tmp/cfg"] + ours[1:], ours)
    assert not tunnel._same_ssh(["python3", "-m", "http.server"], ours)
    assert not tunnel._same_ssh(["/usr/bin/ssh"] + ours[1:-1] + ["other"], ours)


def test_state_files_live_in_the_cache_and_differ_per_engine(tmp_path):
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    one = tunnel.state_file("web", "ssh://me@vm1", env)
    assert one.parent == tmp_path / "devbox" / "forwards" and one.name.startswith("web-")
    assert one != tunnel.state_file("web", "ssh://me@vm2", env)
    assert tunnel.release("web", "ssh://me@vm1", env) is None  # nothing recorded: nothing to stop
