"""scripts/engine's framework image step: cached by the pinned list's hash, one FAILED line naming
the step when pip fails.

pip failing and a missing image cannot be had for real without a registry outage or removing an
image other runs share, so `docker` and the Python that runs pip are stand-ins first on PATH;
the step itself (bash, sha256sum, the real docker/frameworks.txt) is real.
"""

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

FAKE_DOCKER = """#!/bin/bash
case "$1 $2" in
  "image inspect")
    if [ "$3" = -f ]; then echo sha256:base; exit 0; fi
    [ -e "$STATE/present-${3/:/_}" ]; exit $? ;;
  "run --rm") echo "3.11 /usr/local/lib/python3.11/dist-packages x86_64 2.36" ;;
  *) echo "unexpected docker $*" >&2; exit 2 ;;
esac
"""
FAILING_PIP = """#!/bin/bash
[ "$3" = --version ] && exit 0
echo "$*" > "$STATE/pip-args"
echo "ERROR: No matching distribution found for flask==3.1.3" >&2
exit 1
"""


def run_step(tmp_path, present=False):
    bindir, state = tmp_path / "bin", tmp_path / "state"
    bindir.mkdir(exist_ok=True)
    state.mkdir(exist_ok=True)
    for name, body in (("docker", FAKE_DOCKER), ("python-stand-in", FAILING_PIP)):
        (bindir / name).write_text(body)
        (bindir / name).chmod(0o755)
    script = ('. scripts/engine; engine_frameworks; echo "IMAGE=$DEVBOX_FRAMEWORKS_IMAGE"')
    env = {"PATH": f"{bindir}:{os.environ['PATH']}", "STATE": str(state), "ENGINE_STATE_DIR": str(state),
           "PYTHON": str(bindir / "python-stand-in"), "DEVBOX_IMAGE": "base:1", "HOME": str(tmp_path)}
    return subprocess.run(["bash", "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


def test_a_pip_failure_is_one_line_naming_the_step(tmp_path):
    result = run_step(tmp_path)
    assert result.returncode == 1
    failures = [line for line in result.stderr.splitlines() if "FAILED" in line]
    assert failures == [failures[0]] and failures[0].startswith(
        "[engine] FAILED: framework image: pip install -r docker/frameworks.txt: ERROR: No matching distribution")
    pip_args = (tmp_path / "state" / "pip-args").read_text()
    for wanted in ("--target", "--python-version 3.11", "--only-binary=:all:", "--platform manylinux_2_36_x86_64",
                   "--platform manylinux_2_17_x86_64", "--abi cp311"):
        assert wanted in pip_args


def test_an_image_built_from_the_same_list_is_reused_without_pip(tmp_path):
    first = run_step(tmp_path)
    tag = next(line for line in first.stdout.splitlines() if "missing" in line).split()[3]
    assert tag.startswith("devbox-frameworks:")
    (tmp_path / "state" / f"present-{tag.replace(':', '_')}").touch()
    (tmp_path / "state" / "pip-args").unlink()
    again = run_step(tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"IMAGE={tag}" in again.stdout and "reusing it" in again.stdout
    assert not (tmp_path / "state" / "pip-args").exists()
