"""At rest the supervisor's tree sleeps: its wake-ups are counted by the kernel, not timed.

Every process of the tree (supervisor, warm template, standby child, serving child, and all of
their threads) is found in /proc, and its voluntary context switches (one per sleep after a
wake-up) are summed over a window. A periodic wake-up anywhere shows as a rate: the lockfile
heartbeat is the one timer left (every protocol.touch_period(interval) s); the child's monitor
and accept loop, the template and the standby child sleep with no timeout.
"""

import os
import time

from devbox.supervisor import protocol
from tests.supervisor.conftest import http_get, write_app
from tests.waiting import wait_until

WINDOW_S = 6.0


def tree(root):
    """`root` and its living descendants."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, ()))
    return found


def voluntary_switches(pid):
    """{tid: voluntary context switches} of every thread of `pid`."""
    counts = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return counts
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/status" % (pid, tid)) as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        counts[int(tid)] = int(line.split()[1])
        except OSError:
            pass
    return counts


def wakeups(pids, window):
    """Voluntary switches of the threads of `pids` over `window` seconds, and per pid."""
    before = {pid: voluntary_switches(pid) for pid in pids}
    started = time.monotonic()
    time.sleep(window)  # the measured window itself, not a wait for something to happen
    elapsed = time.monotonic() - started
    per_pid = {}
    for pid in pids:
        after = voluntary_switches(pid)
        per_pid[pid] = sum(n - before[pid].get(tid, 0) for tid, n in after.items())
    return sum(per_pid.values()) / elapsed, per_pid


def test_an_idle_supervisor_tree_wakes_less_than_once_a_second(tmp_path, supervisor):
    write_app(tmp_path, "v1")
    sup = supervisor(["--app", "app:app", "--port", "0"])
    sup.wait_event(protocol.EVENT_READY, generation=1)
    assert http_get(sup.port) == (200, "v1")
    # The standby child is forked once a child serves: wait for the whole tree to be there.
    wait_until(lambda: sup.status().get("standby_pid"), timeout=15, message="a standby child")
    pids = tree(sup.pid)
    assert len(pids) >= 4, pids  # supervisor, template, standby, child
    rate, per_pid = wakeups(pids, WINDOW_S)
    # The heartbeat alone: 1 / touch_period (0.4 a second); before, the supervisor and each
    # child's monitor woke every second (2 a second and more).
    assert rate < 1.0, "wake-ups per second %.2f, per process over %gs: %s" % (rate, WINDOW_S, per_pid)


def test_a_polling_child_still_wakes_every_interval(tmp_path, supervisor):
    """--poll-modules needs its period: the rule keeps it (and so the test above can fail)."""
    write_app(tmp_path, "v1")
    sup = supervisor(["--app", "app:app", "--port", "0", "--poll-modules", "--interval", "0.2",
                      "--no-warm"])
    child = sup.wait_event(protocol.EVENT_READY, generation=1)["pid"]
    rate, _ = wakeups([child], 2.0)
    assert rate >= 3.0  # about 5 a second
