"""The host's shared rules, each in one module, give one answer wherever they are used: URL
hosts, stop timeouts, Docker timestamps, log lines."""

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from devbox import compose, config, docker_time, plan, status, tunnel
from devbox.logs import split_lines


@pytest.mark.parametrize("ip, url", [
    ("127.0.0.1", "http://127.0.0.1:8000"),
    ("0.0.0.0", "http://127.0.0.1:8000"),
    ("", "http://127.0.0.1:8000"),
    ("::1", "http://[::1]:8000"),
    ("::", "http://[::1]:8000"),
    ("192.168.1.5", "http://192.168.1.5:8000"),
])
def test_every_url_devbox_prints_follows_the_one_rule(ip, url):
    assert tunnel.Forward(ip, 8000, 40000, 8000).url == url
    spec = plan.ContainerSpec(name="x", image="i", command=(), workdir="/app", bind_source=None,
                              ports=((8000, ip, 8000),), env=())
    assert spec.urls == (url,)
    assert dataclasses.replace(spec, forwards=((ip, 8000, 8000),)).urls == (url,)

    class Container:
        attrs = {"HostConfig": {"PortBindings": {"8000/tcp": [{"HostIp": ip, "HostPort": "8000"}]}}}

    assert status.published_urls(Container()) == [url]
    assert status.published_urls(Container(), 8000) == [url]


def test_an_ssh_forward_on_ipv6_loopback_prints_a_url_a_browser_opens():
    forward = tunnel.Forward("::1", 8000, 40000, 8000)
    assert forward.url == "http://[::1]:8000"
    assert forward.spec == "[::1]:8000:127.0.0.1:40000"  # ssh -L takes an IPv6 bind address in brackets


def test_the_stop_timeout_is_the_same_for_a_container_and_a_compose_service(tmp_path):
    (tmp_path / "docker-compose.yml").write_text("services: {}\n")
    (tmp_path / "devbox.yml").write_text("stop_grace: 7.5\ncompose:\n  file: docker-compose.yml\n"
                                         "  services: {web: {app: 'a:app', port: 8000}}\n")
    (tmp_path / "single.yml").write_text("stop_grace: 7.5\napp: a:app\n")
    cfg = config.load(Path("devbox.yml"), cwd=tmp_path, environ={})
    single = config.load(Path("single.yml"), cwd=tmp_path, environ={})
    grace_period = compose.plan_override(cfg, {}, None)["services"]["web"]["stop_grace_period"]
    assert grace_period == f"{plan.plan(single, plan.HostFacts()).stop_timeout}s" == "9s"


@pytest.mark.parametrize("stamp, expected", [
    ("2026-12-02T18:12:13.123456789Z", dt.datetime(2026, 12, 2, 18, 12, 13, 123456, tzinfo=dt.timezone.utc)),
    ("2026-12-02T18:12:13Z", dt.datetime(2026, 12, 2, 18, 12, 13, tzinfo=dt.timezone.utc)),
    ("2026-12-02T19:12:13.5+01:00", dt.datetime(2026, 12, 2, 18, 12, 13, 500000, tzinfo=dt.timezone.utc)),
    ("0001-01-01T00:00:00Z", None),
    ("", None),
    ("yesterday", None),
])
def test_docker_timestamps(stamp, expected):
    assert docker_time.parse(stamp) == expected


def test_uptime_and_p50_are_decided_by_the_status_row():
    started = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=120)).isoformat().replace("+00:00", "Z")
    row = status.ContainerStatus(name="x", container="x-devbox", state="running", image="i", started_at=started,
                                 supervisor={"reloads": 3, "last_reload_ms": [90, 10, 50], "state": "crashed"})
    assert 119 <= row.uptime_s < 130
    assert (row.reloads, row.reload_p50_ms, row.crashed) == (3, 50, True)
    assert status.ContainerStatus(name="x", container="c", state="exited", image="i").uptime_s is None


def test_log_lines_are_split_across_chunks():
    chunks = [b"first\r\nsec", b"ond\n", b"", "\u00e9".encode()[:1], "\u00e9".encode()[1:] + b"\nlast"]
    assert list(split_lines(chunks)) == ["first", "second", "\u00e9", "last"]


def test_docker_py_internals_and_rust_notify_are_used_only_behind_their_adapters():
    package = Path(plan.__file__).parent
    private = ("_custom_adapter", "docker.transport", "sshconn", "_rust_notify", "RustNotify", '"_sock"')
    homes = {"docker_adapter.py", "notify.py", "receiver.py"}  # receiver.py: see docker_adapter.raw_socket
    users = sorted(str(path.relative_to(package)) for path in package.rglob("*.py")
                   if "supervisor" not in path.parts and path.name not in homes
                   and any(word in path.read_text() for word in private))
    assert users == []
