"""What `devbox up` does not pay for on its way to the first response: docker-py's ssh support
(paramiko, half of its import) when no ssh:// engine can be in use."""

import json
import subprocess
import sys

from devbox.engine import may_use_ssh


def run(code):
    return json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                     check=True).stdout)


def test_docker_is_imported_without_paramiko_and_ssh_comes_back_when_asked():
    seen = run(
        "import json, sys\n"
        "from devbox import docker_adapter\n"
        "docker_adapter.import_docker(ssh=False)\n"
        "import docker.transport, docker.api.client\n"
        "before = ['paramiko' in sys.modules, hasattr(docker.transport, 'SSHHTTPAdapter')]\n"
        "docker_adapter.import_docker(ssh=True)\n"
        "after = ['paramiko' in sys.modules, hasattr(docker.api.client, 'SSHHTTPAdapter')]\n"
        "print(json.dumps([before, after]))\n")
    assert seen == [[False, False], [True, True]]


def test_an_ssh_engine_in_the_first_import_has_its_ssh_support():
    seen = run(
        "import json, sys\n"
        "from devbox import docker_adapter\n"
        "docker_adapter.import_docker(ssh=True)\n"
        "import docker.api.client\n"
        "print(json.dumps(['paramiko' in sys.modules, hasattr(docker.api.client, 'SSHHTTPAdapter')]))\n")
    assert seen == [True, True]


def test_which_environments_may_name_an_ssh_engine(tmp_path):
    none = {"DOCKER_CONFIG": str(tmp_path)}
    assert not may_use_ssh(none)  # no config: the default unix socket
    assert may_use_ssh({"DOCKER_HOST": "ssh://me@vm"})
    assert not may_use_ssh({"DOCKER_HOST": "unix:///var/run/docker.sock"})
    assert not may_use_ssh({"DOCKER_HOST": "tcp://127.0.0.1:2375", "DOCKER_CONTEXT": "vm"})  # the host wins
    assert may_use_ssh({**none, "DOCKER_CONTEXT": "vm"})  # a named context may be ssh
    assert not may_use_ssh({**none, "DOCKER_CONTEXT": "default"})
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "vm"}))
    assert may_use_ssh(none)
    (tmp_path / "config.json").write_text(json.dumps({"currentContext": "default"}))
    assert not may_use_ssh(none)


class _Watcher:
    def __init__(self, error=None):
        self.error = error
        self.started_in = None

    def start(self):
        import threading

        self.started_in = threading.current_thread().name
        if self.error:
            raise self.error
        return 3


def test_the_watcher_starts_in_a_thread_and_join_raises_what_it_raised():
    from devbox.serving import Starting

    watcher = _Watcher()
    Starting(watcher).join()
    assert watcher.started_in == "watch-start"
    failing = Starting(_Watcher(OSError("inotify watch limit")))
    try:
        failing.join()
    except OSError as exc:
        assert "inotify" in str(exc)
    else:
        raise AssertionError("join() did not raise the start's error")
    failing.join()  # raised once
