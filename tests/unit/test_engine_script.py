"""scripts/engine fails with one line naming the step when apt-get or dockerd fails.

apt-get and dockerd failing cannot be made to happen for real on a healthy machine, so this test
runs the real script with stand-ins for `apt-get`, `dpkg`, `docker` and `dockerd` first on PATH;
everything else (bash, grep, the script itself) is real.
"""

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REAL_TOOLS = ("bash", "sh", "grep", "tail", "cut", "id", "sleep", "mkdir", "cat", "dirname", "rm", "kill", "timeout", "setsid")


def fake_bin(tmp_path, scripts):
    """A PATH directory with the real basic tools linked in and `scripts` as stand-ins."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in REAL_TOOLS:
        found = shutil.which(tool)
        if found:
            (bindir / tool).symlink_to(found)
    for name, body in scripts.items():
        path = bindir / name
        path.write_text("#!/bin/bash\n" + body)
        path.chmod(0o755)
    return bindir


def run_engine(tmp_path, bindir):
    env = {"PATH": str(bindir), "ENGINE_STATE_DIR": str(tmp_path / "state"), "HOME": str(tmp_path)}
    return subprocess.run(["bash", str(REPO / "scripts" / "engine")], env=env, capture_output=True,
                          text=True, timeout=60)


NO_ENGINE = {"docker": "exit 1\n"}


def the_failure_line(result):
    """The run failed with exactly one FAILED line on stderr; that line."""
    assert result.returncode == 1
    failures = [line for line in result.stderr.splitlines() if "FAILED" in line]
    assert len(failures) == 1, result.stderr
    return failures[0]


def test_apt_failure_is_one_line_naming_the_step(tmp_path):
    bindir = fake_bin(tmp_path, {**NO_ENGINE, "dpkg": "exit 1\n",
                                 "apt-get": 'echo "E: Unable to locate package $4" >&2; exit 100\n'})
    line = the_failure_line(run_engine(tmp_path, bindir))
    assert line.startswith("[engine] FAILED: apt-get install docker.io")
    assert "Unable to locate package" in line


def test_dockerd_failure_is_one_line_with_its_reason(tmp_path):
    bindir = fake_bin(tmp_path, {**NO_ENGINE, "containerd": "exit 0\n",
                                 "dockerd": 'echo \'level=fatal msg="failed to start daemon: no iptables"\'; exit 1\n'})
    result = run_engine(tmp_path, bindir)
    line = the_failure_line(result)
    assert line.startswith("[engine] FAILED: dockerd exited at start")
    assert "no iptables" in line
    assert "starting dockerd" in result.stdout
