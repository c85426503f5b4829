"""The engine scripts/test provides really runs containers from the test image."""

import urllib.request

from tests.conftest import free_port
from tests.waiting import wait_until


def http_get(url, timeout=2.0):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read()


def test_container_serves_http_on_a_loopback_port(containers, test_image, unique_name, tmp_path):
    port = free_port()
    container = containers(
        test_image,
        ["python3", "-m", "http.server", "8000", "--directory", "/etc"],
        name=unique_name,
        ports={"8000/tcp": ("127.0.0.1", port)},
    )
    status, body = wait_until(lambda: http_get(f"http://127.0.0.1:{port}/os-release"), 30, 0.05,
                              "container's http.server answering")
    assert status == 200
    assert b"Debian" in body or b"ID=" in body
    container.reload()
    bindings = container.attrs["NetworkSettings"]["Ports"]["8000/tcp"]
    assert {b["HostIp"] for b in bindings} == {"127.0.0.1"}


def test_connecting_asks_the_engines_version_once_and_uses_its_api_version(tmp_path):
    from devbox import engine
    from tests.relay import SocketRelay

    relay = SocketRelay(tmp_path / "engine.sock").start()
    try:
        connected = engine.connect({"DOCKER_HOST": f"unix://{relay.path}"})
        api = connected.client.api.api_version
        connected.client.containers.list(filters={"label": "devbox.test.none=1"})
        sent = relay.sent
        connected.close()
    finally:
        relay.cut()
    assert sent.count(b"/version HTTP") == 1, sent
    assert api != engine.docker_adapter.pinned_version() and f"GET /v{api}/containers/json".encode() in sent
