"""Compose projects against the real engine and the real compose CLI: the repo's compose/ example
(web calls api, docs unsupervised), copied to a temporary directory under a unique project name."""

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.project import Project, http_get
from tests.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
COMPOSE_PROJECT = "com.docker.compose.project"


class Shop(Project):
    """The compose/ example in a temporary directory; every devbox call gets its ports."""

    def __init__(self, root: Path, name: str, image: str):
        super().__init__(root, name, free_port(), image)
        self.api_port = free_port()
        self.env = {"DEVBOX_IMAGE": image, "WEB_PORT": str(self.port), "API_PORT": str(self.api_port)}

    def devbox(self, *args, env=None, **kwargs):
        return super().devbox(*args, env={**self.env, **(env or {})}, **kwargs)

    def spawn(self, *args, env=None):
        return super().spawn(*args, env={**self.env, **(env or {})})

    def web(self):
        status, body = self.get("/")
        assert status == 200, body
        return json.loads(body)

    def api(self):
        status, body = http_get(f"http://127.0.0.1:{self.api_port}/")
        assert status == 200, body
        return json.loads(body)

    def edit(self, relpath, old, new):
        path = self.root / relpath
        text = path.read_text()
        assert old in text, f"{old!r} not in {relpath}"
        path.write_text(text.replace(old, new))

    def containers(self, client, all=True):
        return client.containers.list(all=all, filters={"label": f"{COMPOSE_PROJECT}={self.name}"})


@pytest.fixture
def shop(tmp_path, unique_name, test_image, docker_client):
    """compose/ (and the docker/ it builds from) copied; the project and its images go at teardown."""
    top = tmp_path / "repo"
    shutil.copytree(REPO / "compose", top / "compose", ignore=shutil.ignore_patterns(".devbox", "__pycache__"))
    shutil.copytree(REPO / "docker", top / "docker")
    shop = Shop(top / "compose", unique_name, test_image)
    shop.edit("devbox.yml", "name: shop\n", f"name: {unique_name}\n")
    yield shop
    shop.stop_background()
    shop.devbox("down", check=False, timeout=120)
    for container in shop.containers(docker_client):
        container.remove(force=True, v=True)
    for network in docker_client.networks.list(filters={"label": f"{COMPOSE_PROJECT}={unique_name}"}):
        network.remove()
    for image in docker_client.images.list():
        if any(tag.startswith((f"{unique_name}_", f"{unique_name}-")) for tag in image.tags):
            docker_client.images.remove(image.id, force=True)


def test_an_edit_reloads_only_the_services_that_watch_it(shop, docker_client):
    compose_file = (shop.root / "docker-compose.yml").read_bytes()
    process = shop.spawn("up")
    wait_until(lambda: "watching" in shop.output(process), 120, 0.05, "devbox up watching")
    first = shop.web()
    assert (first["title"], first["api"]["message"]) == ("web v1", "hello from api v1")
    api_pid = shop.api()["pid"]

    shop.edit("services/web/app.py", '"web v1"', '"web v2"')
    after_web = wait_until(lambda: (lambda r: r["title"] == "web v2" and r)(shop.web()), 30, 0.01, "web v2")
    assert after_web["pid"] != first["pid"]
    assert shop.api()["pid"] == api_pid, "api restarted although only web's code changed"

    shop.edit("services/api/app.py", '"hello from api v1"', '"hello from api v2"')
    # web's page calls api over the compose network: it shows the new api response.
    after_api = wait_until(lambda: (lambda r: r["api"]["message"] == "hello from api v2" and r)(shop.web()),
                           30, 0.01, "web showing api v2")
    assert after_api["pid"] == after_web["pid"], "web restarted although only api's code changed"
    assert after_api["api"]["pid"] != api_pid

    shop.edit("services/common/http.py", '"common v1"', '"common v2"')  # watched by both
    both = wait_until(lambda: (lambda r: r["common"] == r["api"]["common"] == "common v2" and r)(shop.web()),
                      30, 0.01, "both services on common v2")
    assert both["pid"] != after_api["pid"] and both["api"]["pid"] != after_api["api"]["pid"]

    output = wait_until(lambda: (lambda o: o.count("↻") >= 4 and o)(shop.output(process)), 10, 0.05,
                        "four reload lines")
    assert "web: ↻ services/web/app.py changed -> reloaded in" in output
    assert "api: ↻ services/api/app.py changed -> reloaded in" in output
    assert "docs: running as compose runs it (not supervised)" in output
    assert "[web]" in output and "[api]" in output

    process.send_signal(2)
    assert process.wait(60) == 0
    assert "stopped in" in shop.output(process)
    assert {c.status for c in shop.containers(docker_client)} == {"exited"}
    assert (shop.root / "docker-compose.yml").read_bytes() == compose_file


def test_a_rebuild_file_recreates_only_its_service(shop, docker_client):
    # requirements.txt goes into the image (docker/Dockerfile copies it): web watches it.
    (shop.root / "requirements.txt").write_text("# no dependencies yet\n")
    shop.edit("devbox.yml", 'paths: ["services/web", "services/common"]',
              'paths: ["services/web", "services/common", "requirements.txt"]')
    process = shop.spawn("up")
    wait_until(lambda: "watching" in shop.output(process), 120, 0.05, "devbox up watching")
    ids = {c.labels["com.docker.compose.service"]: c.id for c in shop.containers(docker_client)}
    api_pid = shop.api()["pid"]

    (shop.root / "requirements.txt").write_text("# still none, but a new image\n")
    wait_until(lambda: "web: image rebuilt" in shop.output(process), 120, 0.05, "web rebuilt")
    after = {c.labels["com.docker.compose.service"]: c.id for c in shop.containers(docker_client)}
    assert after["web"] != ids["web"]
    assert (after["api"], after["docs"]) == (ids["api"], ids["docs"])
    assert shop.api()["pid"] == api_pid
    assert shop.web()["title"] == "web v1"

    shop.edit("services/web/app.py", '"web v1"', '"web v2"')  # the new container is watched too
    wait_until(lambda: shop.web()["title"] == "web v2", 30, 0.01, "web v2 after the rebuild")


def test_up_status_reload_logs_exec_down(shop, docker_client):
    compose_file = (shop.root / "docker-compose.yml").read_bytes()
    shop.devbox("up", "-d", timeout=180)
    by_service = {c.labels["com.docker.compose.service"]: c for c in shop.containers(docker_client)}
    assert sorted(by_service) == ["api", "docs", "web"]
    for name in ("web", "api"):
        labels = by_service[name].labels
        assert (labels["devbox.project"], labels["devbox.service"]) == (shop.name, name)
        assert by_service[name].attrs["Config"]["StopSignal"] == "SIGTERM"
    assert "devbox.service" not in by_service["docs"].labels
    assert by_service["docs"].attrs["Config"]["Cmd"][:3] == ["python3", "-m", "http.server"]

    status = shop.devbox("status").stdout.splitlines()
    assert any(line.startswith("web  running  " + shop.url) for line in status), status
    assert any(line.startswith("docs  running") and "not supervised" in line for line in status), status

    web_pid, api_pid = shop.web()["pid"], shop.api()["pid"]
    result = shop.devbox("reload", "api")
    assert "api reloaded in" in result.stdout and "web" not in result.stdout
    assert shop.api()["pid"] != api_pid
    assert shop.web()["pid"] == web_pid

    logs = shop.devbox("logs").stdout.splitlines()
    assert any(line.startswith("[web]") and "GET / 200" in line for line in logs), logs
    assert any(line.startswith("[api]") for line in logs)
    assert {line.split()[0] for line in shop.devbox("logs", "api").stdout.splitlines()} == {"[api]"}

    pid1 = shop.devbox("exec", "web", "cat", "/proc/1/cmdline").stdout
    assert "devbox-supervisor" in pid1 and "web.app:app" in pid1

    result = shop.devbox("down")
    assert "removed" in result.stdout
    assert shop.containers(docker_client) == []
    assert docker_client.networks.list(filters={"label": f"{COMPOSE_PROJECT}={shop.name}"}) == []
    assert (shop.root / "docker-compose.yml").read_bytes() == compose_file


def test_a_reload_never_serves_stale_bytecode(shop):
    # A .pyc is trusted when the source's mtime (whole seconds) and size match: a same-size save
    # within the same second as the cached version must still be served after the reload.
    shop.devbox("up", "-d", timeout=180)
    assert shop.api()["message"] == "hello from api v1"
    source = shop.root / "services/api/app.py"
    before = source.stat()
    shop.edit("services/api/app.py", '"hello from api v1"', '"hello from api v2"')
    os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert source.stat().st_size == before.st_size
    shop.devbox("reload", "api")
    assert shop.api()["message"] == "hello from api v2"


def test_down_cleans_up_even_when_the_compose_file_is_gone(shop, docker_client):
    shop.devbox("up", "-d", timeout=180)
    (shop.root / "docker-compose.yml").unlink()
    result = shop.devbox("down")
    assert "removing the project by its labels" in result.stdout
    assert shop.containers(docker_client) == []
    assert docker_client.networks.list(filters={"label": f"{COMPOSE_PROJECT}={shop.name}"}) == []


# -- bad input: one line, exit 1, nothing started ------------------------------------------------


def assert_one_line_error(shop, client, result, *fragments):
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    assert shop.containers(client) == []


def test_missing_compose_file(shop, docker_client):
    shop.edit("devbox.yml", "file: docker-compose.yml", "file: compose/nope.yml")
    result = shop.devbox("up", "-d", check=False)
    assert_one_line_error(shop, docker_client, result, "devbox: compose/nope.yml: no such file",
                          "compose.file in devbox.yml")


def test_invalid_compose_file_passes_composes_error_through(shop, docker_client):
    shop.edit("docker-compose.yml", "    working_dir: /app\n", "    workdir: /app\n")
    result = shop.devbox("up", "-d", check=False)
    assert_one_line_error(shop, docker_client, result, "devbox: docker-compose.yml: docker", "rejects it",
                          "workdir")


def test_service_missing_from_the_compose_file(shop, docker_client):
    shop.edit("devbox.yml", "    api:\n", "    apii:\n")
    result = shop.devbox("up", "-d", check=False)
    assert_one_line_error(shop, docker_client, result,
                          "compose.services.apii: docker-compose.yml has no service 'apii'", "did you mean 'api'?")


def test_no_compose_cli_says_how_to_get_one(shop, docker_client, tmp_path):
    empty = tmp_path / "empty-path"
    empty.mkdir()
    result = shop.devbox("up", "-d", check=False, env={"PATH": str(empty)})
    assert_one_line_error(shop, docker_client, result, "no compose CLI", "apt-get install docker-compose")


def test_the_compose_cli_devbox_uses_answers(shop, capsys):
    """Also records, in the output of `pytest -s`, which compose CLI the suite ran against."""
    from devbox.compose import ComposeCLI, find_cli

    version = ComposeCLI(find_cli(), shop.name, []).version()
    with capsys.disabled():
        print(f"\n[compose CLI under test: {version}]")
    assert version.startswith(("docker-compose ", "docker compose ")) and any(c.isdigit() for c in version)


def test_the_agent_of_a_detached_compose_project_reloads_and_waits_per_service(shop, docker_client):
    shop.devbox("up", "-d", timeout=180)
    info = json.loads(shop.devbox("status", "--json").stdout)
    pid = info["agent"]["pid"]
    assert {row["name"] for row in info["containers"]} >= {"web", "api", "docs"}

    shop.edit("services/api/app.py", '"hello from api v1"', '"hello from api v2"')
    assert shop.devbox("wait", "--timeout", "30", check=False).returncode == 0
    assert shop.api()["message"] == "hello from api v2"  # reloaded by the agent, nothing in the foreground

    # web is an `app:` service: its supervisor knows when the new code failed to load. (A
    # `command:` server is "ready" once spawned, so a crash after that comes after the wait.)
    web = shop.root / "services/web/app.py"
    web.write_text(web.read_text() + "\ndef broken(:\n")
    failed = shop.devbox("wait", "--timeout", "30", check=False)
    assert failed.returncode == 1
    assert failed.stderr.startswith("devbox: web: ") and "SyntaxError" in failed.stderr, failed.stderr

    shop.devbox("down")
    from devbox.agent import detach

    assert not detach.alive(pid)
    assert shop.containers(docker_client) == []
