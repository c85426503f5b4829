"""devbox.wakeup on real directories (real inotify), and what it buys: an idle watcher thread that
sleeps instead of waking every 5 ms, while a lone save is still acted on within a few steps."""

import time

from devbox import wakeup
from tests.waiting import wait_until


def test_it_wakes_on_a_write_anywhere_watched_and_sleeps_otherwise(root):
    (root / "node_modules" / "x").mkdir(parents=True)
    waker = wakeup.for_roots([str(root)], prune=lambda path: path.endswith("node_modules"))
    try:
        assert waker.wait(0.05) is False
        (root / "node_modules" / "x" / "a.js").write_text("pruned: no wake-up")
        assert waker.wait(0.1) is False
        (root / "app.py").write_text("v2")
        assert waker.wait(1.0) is True
        (root / "new" / "deeper").mkdir(parents=True)  # made later: watched as it appears
        assert waker.wait(1.0) is True
        waker.wait(0.05)
        (root / "new" / "deeper" / "m.py").write_text("m")
        assert waker.wait(1.0) is True
    finally:
        waker.close()


def voluntary_switches(tid: int) -> int:
    with open(f"/proc/self/task/{tid}/status") as f:
        return int(next(line for line in f if line.startswith("voluntary_ctxt_switches")).split()[1])


def test_an_idle_watcher_wakes_a_few_times_a_second_not_every_step(root, loops):
    loop = loops(act_s=0)
    tid = wait_until(lambda: loop.thread.native_id, 5, 0.01)
    time.sleep(0.2)  # measuring what an idle thread does over a window: the window is the point
    before = voluntary_switches(tid)
    time.sleep(1.0)
    woke = voluntary_switches(tid) - before
    assert woke < 20, woke  # it was ~200 a second with the notifier's 5 ms step
    written = time.time()
    (root / "app.py").write_text("v2")
    arrived = wait_until(lambda: [at for at, b in loop.batches if "app.py" in b.paths], 5, 0.001)[0]
    assert arrived - written < 0.1


def test_an_idle_watcher_stops_at_once_though_it_sleeps_for_seconds(root, loops):
    loop = loops(act_s=0)
    time.sleep(0.1)  # let it fall asleep in the waker
    asked = time.monotonic()
    loop.watcher.stop_event.set()
    loop.thread.join(5)
    assert not loop.thread.is_alive() and time.monotonic() - asked < 0.5


def test_settle_returns_once_writes_pause_and_never_after_its_limit(root):
    import threading

    waker = wakeup.for_roots([str(root)], prune=lambda path: False)
    try:
        (root / "app.py").write_text("v2")
        assert waker.wait(1.0) is True
        started = time.monotonic()
        waker.settle(0.003, 1.0)
        assert time.monotonic() - started < 0.5  # nothing more was written: it ends at the pause

        stop = threading.Event()

        def keep_writing():  # a writer that never pauses for 50 ms
            while not stop.is_set():
                (root / "busy.py").write_text(str(time.monotonic()))
                time.sleep(0.0005)

        writer = threading.Thread(target=keep_writing)
        writer.start()
        try:
            assert waker.wait(1.0) is True
            started = time.monotonic()
            waker.settle(0.05, 0.3)
            assert 0.25 <= time.monotonic() - started < 1.5  # its limit: the writes never paused
        finally:
            stop.set()
            writer.join()
    finally:
        waker.close()
