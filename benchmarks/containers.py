"""The Docker engine through its CLI: the benchmark image and the containers the harness starts.

Everything created here carries the label devbox.bench=1 and the run's id, and is removed by
name at the end of a session and by label at the end of the run, even after a failure.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import List, Optional

LABEL = "devbox.bench=1"
RUN_LABEL = "devbox.bench.run"


def docker(*args: str, timeout: float = 120.0, check: bool = True) -> str:
    result = subprocess.run(["docker", *args], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:2])} failed: {result.stderr.strip()[-300:]}")
    return result.stdout.strip()


def engine_version() -> Optional[str]:
    """The engine's version, or None when no engine answers."""
    try:
        return docker("version", "--format", "{{.Server.Version}}", timeout=15) or None
    except (OSError, RuntimeError, subprocess.TimeoutExpired):
        return None


def build_image(tag: str, base: str, site: Path, run_id: str) -> str:
    """`base` plus the heavy module in a site directory on PYTHONPATH, as an installed dependency
    would be; tagged `tag` and labelled for cleanup."""
    with tempfile.TemporaryDirectory(prefix="devbox-bench-image-") as context:
        for module in site.glob("*.py"):
            (Path(context) / module.name).write_bytes(module.read_bytes())
        (Path(context) / "Dockerfile").write_text(
            f"FROM {base}\n"
            f"LABEL {LABEL} {RUN_LABEL}={run_id}\n"
            "COPY *.py /opt/bench-site/\n"
            "ENV PYTHONPATH=/opt/bench-site\n")
        docker("build", "-q", "-t", tag, context, timeout=300)
    return tag


def remove_image(tag: str) -> None:
    docker("rmi", "-f", tag, check=False)


def run_args(name: str, run_id: str) -> List[str]:
    """The start of a `docker run` for a container the harness owns."""
    return ["run", "-d", "--name", name, "--label", LABEL, "--label", f"{RUN_LABEL}={run_id}"]


def host_pids(name: str) -> List[int]:
    """The container's init process as the host sees it, and its containerd shim (both are the
    container's cost on this machine); [] when it is not running."""
    try:
        pid = int(docker("inspect", "--format", "{{.State.Pid}}", name, timeout=15, check=True) or 0)
    except (RuntimeError, ValueError, subprocess.TimeoutExpired):
        return []
    if pid <= 0:
        return []
    try:
        with open(f"/proc/{pid}/stat") as f:
            ppid = int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return [pid]
    return [ppid, pid] if ppid > 1 else [pid]


def remove(name: str) -> None:
    docker("rm", "-f", "-v", name, check=False, timeout=60)


def remove_run(run_id: str, name_prefix: str) -> List[str]:
    """Remove every container of this run: by label, and by name for the ones devbox created
    (they carry devbox's own labels); the ids removed."""
    ids = docker("ps", "-aq", "--filter", f"label={RUN_LABEL}={run_id}", check=False).split()
    ids += docker("ps", "-aq", "--filter", f"name=^{name_prefix}", check=False).split()
    for container_id in ids:
        docker("rm", "-f", "-v", container_id, check=False, timeout=60)
    return ids
