"""benchmarks/.venv: the peers at their pinned versions, and devbox itself.

devbox is installed as a user gets it (a regular install, not editable: an editable install adds
a path finder that every new interpreter imports at start, ~25 ms here, and every contender's
respawn would pay it). The peers are reinstalled when requirements.txt changes, devbox when its
sources do.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV = HERE / ".venv"
REQUIREMENTS = HERE / "requirements.txt"


class VenvError(Exception):
    pass


def bin_dir(venv: Path = VENV) -> Path:
    return venv / "bin"


def _digest(paths) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _devbox_sources():
    return [REPO / "pyproject.toml"] + sorted((REPO / "devbox").rglob("*.py")) + sorted((REPO / "devbox").glob("templates/*"))


def ensure(say=print) -> Path:
    """The venv's python, created and installed when needed."""
    python = bin_dir() / "python"
    if not python.exists():
        say(f"creating {VENV}")
        _run([sys.executable, "-m", "venv", str(VENV)], "python3 -m venv (on Debian: apt-get install python3-venv)")
    # The first step also brings devbox's own dependencies; the second replaces devbox alone.
    _install(python, VENV / ".peers-installed", _digest([REQUIREMENTS, REPO / "pyproject.toml"]),
             ["-r", str(REQUIREMENTS), str(REPO)], f"the peers ({REQUIREMENTS.name})", say)
    _install(python, VENV / ".devbox-installed", _digest(_devbox_sources()),
             ["--no-deps", "--force-reinstall", str(REPO)], "devbox", say)
    return python


def _install(python: Path, stamp_file: Path, stamp: str, args, what: str, say) -> None:
    if stamp_file.exists() and stamp_file.read_text() == stamp:
        return
    say(f"installing {what} into {VENV}")
    _run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args], f"pip install {what}")
    stamp_file.write_text(stamp)


def _run(args, what: str) -> None:
    result = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "PIP_NO_INPUT": "1"})
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if "ERROR" in line] or result.stderr.splitlines()[-1:]
        raise VenvError(f"{what} failed: {errors[-1] if errors else 'exit status ' + str(result.returncode)}")
