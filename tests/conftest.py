"""Shared fixtures: the test image, a Docker client that fails loudly, labelled resources."""

import json
import os
import shutil
import socket
import tempfile
import uuid
from pathlib import Path

import pytest

TEST_LABEL = "devbox.test"
RUN_ID = uuid.uuid4().hex[:8]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "/tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.docker)


@pytest.fixture(autouse=True)
def agent_runtime(monkeypatch):
    """Each test's devbox agents live in a runtime dir of their own (short, as a unix socket's
    path has at most 107 bytes), and none outlives its test."""
    from devbox.agent import detach

    run = Path(tempfile.mkdtemp(prefix="dbx-"))
    os.chmod(run, 0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))
    yield run
    for info in run.glob("devbox/agents/*/agent.json"):
        pid = (json.loads(info.read_text()) or {}).get("pid")
        if pid and pid != os.getpid() and detach.alive(pid):
            detach.terminate(pid, timeout=20)
    shutil.rmtree(run, ignore_errors=True)


@pytest.fixture
def browser(tmp_path):
    """A real headless Chromium driven by selenium (tests/browser.py), quit after the test."""
    from tests import browser as chromium

    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    driver = chromium.start(profile)
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def test_image():
    """The Python base image every docker test uses: $DEVBOX_IMAGE (scripts/test provides it)."""
    return os.environ.get("DEVBOX_IMAGE", "python:3.12-slim")


@pytest.fixture(scope="session")
def frameworks_image():
    """The base image plus Flask, Django, FastAPI, uvicorn, gunicorn and Bottle in its site-packages:
    $DEVBOX_FRAMEWORKS_IMAGE (scripts/engine builds it from docker/frameworks.txt). Unset is a
    failure, never a skip."""
    image = os.environ.get("DEVBOX_FRAMEWORKS_IMAGE")
    if not image:
        pytest.fail("DEVBOX_FRAMEWORKS_IMAGE is not set; run the tests with scripts/test, "
                    "whose scripts/engine builds the framework image")
    return image


@pytest.fixture(scope="session")
def docker_client(test_image):
    """A client of the real engine. No engine is a failure, never a skip."""
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"no Docker engine answers ({exc}); run the tests with scripts/test, which starts one")
    try:
        client.images.get(test_image)
    except docker.errors.ImageNotFound:
        pytest.fail(f"test image {test_image} is missing; scripts/test builds it (or set DEVBOX_IMAGE)")
    yield client
    # Anything this run labelled and a test failed to remove goes now.
    run_filter = {"label": f"{TEST_LABEL}.run={RUN_ID}"}
    for container in client.containers.list(all=True, filters=run_filter):
        container.remove(force=True, v=True)
    for network in client.networks.list(filters=run_filter):
        network.remove()
    client.close()


@pytest.fixture
def unique_name(request):
    """A random, recognisable name for a resource created by this test."""
    base = "".join(c if c.isalnum() else "-" for c in request.node.name.lower())[:30].strip("-")
    return f"devbox-test-{base}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def test_labels():
    """Labels every test resource carries, so teardown can always find it."""
    return {TEST_LABEL: "1", f"{TEST_LABEL}.run": RUN_ID}


@pytest.fixture
def containers(docker_client, test_labels):
    """Factory for labelled containers, force-removed after the test even when it fails."""
    made = []

    def run(image, command=None, **kwargs):
        labels = {**test_labels, **kwargs.pop("labels", {})}
        container = docker_client.containers.run(image, command, detach=True, labels=labels, **kwargs)
        made.append(container)
        return container

    yield run
    for container in made:
        try:
            container.remove(force=True, v=True)
        except Exception:  # noqa: BLE001 - already gone
            pass


def free_port(host="127.0.0.1"):
    """A TCP port that was free a moment ago."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@pytest.fixture
def project(tmp_path, unique_name, test_image, request):
    """A devbox project in tmp_path with a one-module WSGI app; its containers go at teardown."""
    from tests.project import HELLO_APP, Project

    root = tmp_path / "proj"
    root.mkdir()
    proj = Project(root, unique_name, free_port(), test_image)
    proj.write("app.py", HELLO_APP)
    proj.write_config()
    yield proj
    proj.stop_background()
    proj.stop_agent()
    if "docker_client" in request.fixturenames:
        client = request.getfixturevalue("docker_client")
        owned = {"label": f"devbox.project={unique_name}"}
        for container in client.containers.list(all=True, filters=owned):
            container.remove(force=True, v=True)
        for image in client.images.list(filters=owned):  # built by `build:`, rebuilt ones included
            client.images.remove(image.id, force=True)
