"""A container's PID 1 as this machine sees it, where the engine runs here (Linux): what lets
devbox signal the supervisor and read its status file directly, instead of through the engine
(its kill and exec each start a runc process: ~20 ms, and ~50-100 ms of CPU for an exec)."""

from __future__ import annotations

import sys


def host_pid(container) -> int:
    """The PID 1 in `container`'s attrs (as read last: reload them after a start), or 0 where
    this machine cannot see it (not Linux)."""
    if not sys.platform.startswith("linux"):
        return 0
    return int(((container.attrs or {}).get("State") or {}).get("Pid") or 0)


def runs_container(pid: int, container_id: str) -> bool:
    """Whether the process `pid` here is in the container `container_id`'s cgroup (else a VM,
    another pid namespace, or the pid is gone or someone else's now). Raises nothing."""
    try:
        with open(f"/proc/{pid}/cgroup") as cgroup:
            return container_id in cgroup.read()
    except OSError:
        return False
