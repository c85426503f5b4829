"""Processes the harness starts: spawned in their own process group, measured and ended by id.

Every contender runs in a new session (so its whole tree shares one process group that the
harness can signal), with SIGINT at its default disposition: an inherited SIG_IGN silently
breaks Bottle's reloader (`interrupt_main()` becomes a no-op) and slows others down.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Dict, Iterable, List, Optional, Sequence

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def make_sigint_default() -> None:
    """Give SIGINT a handler in this process, so no child inherits SIG_IGN.

    exec() resets handled signals to SIG_DFL but keeps ignored ones ignored; a harness started
    with SIGINT ignored (nohup, some CI runners) would otherwise pass that on to every contender.
    """
    if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, None):
        signal.signal(signal.SIGINT, signal.default_int_handler)


def spawn(args: Sequence[str], cwd: str, env: Dict[str, str], log_path: str) -> subprocess.Popen:
    """Start `args` as the leader of a new session, its output appended to `log_path`."""
    make_sigint_default()
    with open(log_path, "ab") as log:
        return subprocess.Popen(list(args), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _stat_fields(pid: int) -> Optional[List[str]]:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read().decode("ascii", "replace")
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    return raw[raw.rindex(")") + 2:].split()


def _all_pids() -> List[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def parents() -> Dict[int, int]:
    """pid -> parent pid of every process on the machine."""
    table = {}
    for pid in _all_pids():
        fields = _stat_fields(pid)
        if fields is not None:
            table[pid] = int(fields[1])
    return table


def tree(roots: Iterable[int]) -> List[int]:
    """The `roots` and all their living descendants."""
    table = parents()
    children: Dict[int, List[int]] = {}
    for pid, ppid in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [r for r in roots if r in table]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def group_members(pgid: int) -> List[int]:
    """Living (not zombie) processes whose process group is `pgid`."""
    members = []
    for pid in _all_pids():
        fields = _stat_fields(pid)
        if fields is not None and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(pid)
    return members


def cpu_ticks(pids: Iterable[int]) -> Dict[int, int]:
    """pid -> user+system clock ticks, including the reaped children each has waited for."""
    ticks = {}
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            # utime, stime, cutime, cstime are fields 14-17 of /proc/PID/stat (11-14 here).
            ticks[pid] = sum(int(v) for v in fields[11:15])
    return ticks


class CpuMeter:
    """CPU seconds used by a process tree between `start()` and `stop()`.

    A process alive at both ends counts its difference, one born meanwhile counts everything it
    used; a child reaped meanwhile is counted through its parent's cutime/cstime.
    """

    def __init__(self, roots_fn):
        self.roots_fn = roots_fn  # called at each end: the tree may have new roots by then
        self.before: Dict[int, int] = {}
        self.started = 0.0

    def start(self) -> None:
        self.before = cpu_ticks(tree(self.roots_fn()))
        self.started = time.monotonic()

    def stop(self) -> dict:
        after = cpu_ticks(tree(self.roots_fn()))
        wall = time.monotonic() - self.started
        used = sum(t - self.before.get(pid, 0) for pid, t in after.items())
        seconds = max(0, used) / CLOCK_TICKS
        return {"cpu_s": seconds, "wall_s": wall, "percent": 100.0 * seconds / wall if wall else 0.0,
                "processes": len(after)}


def signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


def wait_group_gone(pgid: int, leader: Optional[subprocess.Popen], timeout: float) -> bool:
    """True once the leader has exited and no member of the group is left, within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if leader is not None and leader.poll() is None:
            time.sleep(0.005)
            continue
        if not group_members(pgid):
            return True
        time.sleep(0.005)
    return False


def end_group(pgid: int, leader: Optional[subprocess.Popen], grace: float = 3.0) -> None:
    """SIGTERM the group, then SIGKILL whatever is left after `grace`; reap the leader."""
    signal_group(pgid, signal.SIGTERM)
    if not wait_group_gone(pgid, leader, grace):
        signal_group(pgid, signal.SIGKILL)
        wait_group_gone(pgid, leader, grace)
    if leader is not None:
        try:
            leader.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
