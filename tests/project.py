"""A throwaway devbox project on disk, driven through the real `devbox` command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

from tests.waiting import wait_until

DEVBOX = [sys.executable, "-m", "devbox"]

HELLO_APP = '''
BODY = "v1"

def app(environ, start_response):
    data = (BODY + "\\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]
'''


def http_get(url, timeout=2.0):
    """(status, body text) of a GET; HTTP errors are answers too."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


class Project:
    def __init__(self, root: Path, name: str, port: int, image: str):
        self.root, self.name, self.port, self.image = root, name, port, image
        self.background = []

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def write(self, relpath: str, text: str) -> Path:
        path = self.root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def write_config(self, extra: str = "", app: str = "app:app", ports=None) -> None:
        ports = ports if ports is not None else [str(self.port)]
        self.write("devbox.yml", f"name: {self.name}\nimage: {self.image}\napp: {app}\n"
                                 f"ports: {list(ports)!r}\n" + textwrap.dedent(extra))

    def devbox(self, *args, timeout=120, env=None, check=True):
        result = subprocess.run(DEVBOX + list(args), cwd=self.root, capture_output=True, text=True,
                                timeout=timeout, env={**os.environ, **(env or {})})
        if check and result.returncode != 0:
            raise AssertionError(f"devbox {' '.join(args)} exited {result.returncode}:\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def spawn(self, *args, env=None):
        """`devbox ARGS` in the background; output goes to a file read by `output()`."""
        log = open(self.root.parent / f"{self.name}-{len(self.background)}.log", "w+b")
        process = subprocess.Popen(DEVBOX + list(args), cwd=self.root, stdout=log, stderr=subprocess.STDOUT,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
        process.log = log
        self.background.append(process)
        return process

    @staticmethod
    def output(process) -> str:
        process.log.flush()
        return Path(process.log.name).read_text(errors="replace")

    def get(self, path="/", timeout=2.0):
        return http_get(self.url + path, timeout)

    def wait_body(self, expected: str, timeout=30.0, path="/"):
        return wait_until(lambda: self.get(path) == (200, expected), timeout, 0.01,
                          f"GET {path} serving {expected!r}")

    def stop_agent(self):
        """`devbox down` when an agent still runs for the project (`up -d`): else it would start
        the container again once the teardown removes it (it heals what it serves)."""
        from devbox.agent.home import AgentHome

        if AgentHome.for_path(self.root / "devbox.yml").socket.exists():
            self.devbox("down", timeout=60, check=False)

    def stop_background(self):
        for process in self.background:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            process.log.close()
