"""benchmarks/.venv: the peers at their pinned versions, and devbox itself (editable).

Reinstalled only when requirements.txt or pyproject.toml changed since the last install.
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


def _stamp() -> str:
    digest = hashlib.sha256(REQUIREMENTS.read_bytes() + (REPO / "pyproject.toml").read_bytes())
    return digest.hexdigest()[:16]


def ensure(say=print) -> Path:
    """The venv's python, created and installed when needed."""
    python = bin_dir() / "python"
    if not python.exists():
        say(f"creating {VENV}")
        _run([sys.executable, "-m", "venv", str(VENV)], "python3 -m venv (on Debian: apt-get install python3-venv)")
    stamp_file = VENV / ".bench-installed"
    if stamp_file.exists() and stamp_file.read_text() == _stamp():
        return python
    say(f"installing the peers ({REQUIREMENTS.name}) and devbox into {VENV}")
    _run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", str(REQUIREMENTS),
          "-e", str(REPO)], "pip install")
    stamp_file.write_text(_stamp())
    return python


def _run(args, what: str) -> None:
    result = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "PIP_NO_INPUT": "1"})
    if result.returncode != 0:
        errors = [line for line in result.stderr.splitlines() if "ERROR" in line] or result.stderr.splitlines()[-1:]
        raise VenvError(f"{what} failed: {errors[-1] if errors else 'exit status ' + str(result.returncode)}")
