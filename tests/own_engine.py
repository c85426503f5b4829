"""A second Docker engine that a test owns and may stop and start: its own dockerd with its own
--data-root, --exec-root, --pidfile, unix socket and bridge, all under a temporary directory.
The shared engine at /var/run/docker.sock is never touched; the base image is copied over with
`docker save | docker load`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from tests.waiting import wait_until

BRIDGE = "dbxtest0"
BRIDGE_CIDR = "172.31.250.1/24"  # away from the shared engine's 172.17.0.0/16


class OwnEngine:
    def __init__(self, root: Path):
        self.root = root
        self.socket = root / "engine.sock"
        self.pidfile = root / "dockerd.pid"
        self.url = f"unix://{self.socket}"
        self.env = {**os.environ, "DOCKER_HOST": self.url}
        self.process = None

    def start(self) -> None:
        if subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True).returncode != 0:
            subprocess.run(["ip", "link", "add", BRIDGE, "type", "bridge"], check=True)
            subprocess.run(["ip", "addr", "add", BRIDGE_CIDR, "dev", BRIDGE], check=True)
        subprocess.run(["ip", "link", "set", BRIDGE, "up"], check=True)
        log = open(self.root / "dockerd.log", "ab")
        self.process = subprocess.Popen(
            ["dockerd", "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec"),
             "--pidfile", str(self.pidfile), "-H", self.url, "--bridge", BRIDGE, "--iptables=false",
             "--ip-masq=false", "--ip6tables=false"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_until(self.answers, 60, 0.1, "the test's own dockerd answering")

    def answers(self) -> bool:
        return subprocess.run(["docker", "version"], env=self.env, capture_output=True).returncode == 0

    def stop(self) -> None:
        """SIGTERM to this engine's dockerd (by the pid this object started), and wait for it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(60)
        self.process = None

    def load(self, image: str) -> None:
        save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
        subprocess.run(["docker", "load", "-q"], stdin=save.stdout, env=self.env, check=True, capture_output=True)
        save.stdout.close()
        assert save.wait() == 0

    def remove(self) -> None:
        self.stop()
        subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module", name="own_engine")
def own_engine_fixture(tmp_path_factory, docker_client, test_image):
    """A dockerd of the module's own, which its tests may stop and start again (import it as
    `from tests.own_engine import own_engine_fixture`)."""
    engine = OwnEngine(tmp_path_factory.mktemp("engine"))
    try:
        engine.start()
        engine.load(test_image)
        yield engine
    finally:
        engine.remove()
