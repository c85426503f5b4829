"""The supervisor on every Python >= 3.8 this machine has (at least the one running the tests):
serve, reload (a same-second edit), show a syntax error, recover, stop."""

import glob
import os
import signal
import subprocess
import sys

import pytest

from devbox.supervisor import protocol
from tests.supervisor.conftest import http_get, write_app

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def interpreters():
    """{(major, minor): path}, one per version >= 3.8: this one, python3.N on PATH, pyenv's."""
    candidates = [sys.executable]
    candidates += ["python3.%d" % minor for minor in range(8, 15)]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3")))
    found = {}
    for candidate in candidates:
        try:
            out = subprocess.run([candidate, "-c", "import sys; print(*sys.version_info[:2])"],
                                 capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0:
            version = tuple(int(v) for v in out.stdout.split())
            if version >= (3, 8):
                found.setdefault(version, candidate)
    return found


INTERPRETERS = interpreters()


@pytest.mark.parametrize("python", sorted(INTERPRETERS.values()),
                         ids=["py%d.%d" % v for v in sorted(INTERPRETERS)])
def test_serve_reload_crash_recover_stop(tmp_path, supervisor, python):
    write_app(tmp_path, "v1")
    sup = supervisor(["--app", "app:app", "--port", "0"],
                     python_argv=[python, "-m", "devbox.supervisor"],
                     env={"PYTHONPATH": ROOT})
    sup.wait_event(protocol.EVENT_READY, generation=1)
    assert http_get(sup.port) == (200, "v1")
    write_app(tmp_path, "v2")  # same size, same second: the bytecode cache must not win
    sup.reload()
    assert http_get(sup.port) == (200, "v2")
    assert sup.status()["warm"] is True  # forked from the template on this version too

    (tmp_path / "app.py").write_text("def app(:\n")
    sup.send(signal.SIGHUP)
    assert sup.wait_event(protocol.EVENT_CRASHED, generation=3)["message"].startswith(
        "app.py:1: SyntaxError")
    assert http_get(sup.port)[0] == 500

    write_app(tmp_path, "v3")
    sup.reload()
    assert http_get(sup.port) == (200, "v3")
    code, took = sup.stop()
    assert code == 0 and took < 1.0
