"""The watcher on odd trees and on changes devbox causes itself: real files, the real notifier
(inotify) in a thread. Each test would fail on the watcher before issue 15: a non-UTF-8 name
killed it, a symlink loop made it walk forever, its own log file reloaded it in a loop."""

import os
import time
import shutil

from devbox import feedback, filters
from tests.waiting import wait_until


def names(loop):
    return [p for _, b in loop.batches for p in b.paths]


def test_a_file_name_that_is_not_utf8_is_reloaded_and_the_watch_goes_on(root, loops):
    loop = loops(act_s=0)
    with open(os.fsencode(str(root)) + b"/bad\xffname.py", "wb") as f:
        f.write(b"x = 1\n")
    loop.wait_for(os.fsdecode(b"bad\xffname.py"))
    (root / "app.py").write_text("v2")
    loop.wait_for("app.py")
    assert loop.thread.is_alive()


def test_names_with_spaces_and_newlines_are_files_like_any_other(root, loops):
    loop = loops(act_s=0)
    (root / "a b.py").write_text("1")
    (root / "c\nd.py").write_text("1")
    loop.wait_for("a b.py")
    loop.wait_for("c\nd.py")


def test_a_symlink_loop_and_a_link_out_of_the_project_are_never_followed(root, tmp_path, loops):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text("s")
    (root / "pkg").mkdir()
    (root / "pkg" / "m.py").write_text("m")
    os.symlink("..", root / "pkg" / "loop")
    os.symlink(str(outside), root / "out")
    loop = loops(act_s=0)
    assert loop.files == 4  # app.py, pkg/m.py and the two links themselves
    (outside / "secret.py").write_text("s2")
    (root / "pkg" / "m.py").write_text("m2")
    loop.wait_for("pkg/m.py")
    assert all("loop/" not in p and not p.startswith("out/") for p in names(loop)), names(loop)


def test_a_directory_replaced_by_a_file_is_its_files_deleted_and_the_file_changed(root, loops):
    (root / "pkg").mkdir()
    (root / "pkg" / "m.py").write_text("m")
    loop = loops(act_s=0)
    shutil.rmtree(root / "pkg")
    (root / "pkg").write_text("now a file")
    wait_until(lambda: {"pkg", "pkg/m.py"} <= set(names(loop)), 5, 0.005, "both in batches")
    deleted = [p for _, b in loop.batches for p in b.deleted]
    assert "pkg/m.py" in deleted


def test_the_file_devbox_writes_its_output_to_is_never_acted_on(root, loops):
    log = open(root / "devbox.log", "a")  # stands for `devbox up > devbox.log`: fd 1 of devbox
    try:
        loop = loops(act_s=0)
        loop.watcher.own_outputs = feedback.own_outputs(fds=(log.fileno(),))
        for n in range(3):
            log.write(f"reloaded {n}\n")
            log.flush()
        (root / "app.py").write_text("v2")
        loop.wait_for("app.py")
        log.write("more\n")
        log.flush()
        (root / "app.py").write_text("v3")
        wait_until(lambda: len(loop.batches) >= 2, 5, 0.005)
        assert "devbox.log" not in names(loop)
    finally:
        log.close()


def test_the_state_directory_is_ignored_whatever_the_rules_say(root):
    rules = filters.PathFilter(root, ignore=["!.devbox/", "!.devbox-*"])
    (root / ".devbox").mkdir()
    (root / ".devbox" / "compose.p.yml").write_text("x")
    (root / ".devbox-canary").write_text("x")
    assert rules.classify(".devbox/compose.p.yml") == filters.IGNORE
    assert rules.classify(".devbox-canary") == filters.IGNORE
    assert list(rules.walk()) == ["app.py"]


def test_a_file_that_changes_after_every_action_and_alone_is_muted_once(root, loops):
    looped = []

    def act(batch):  # the app writes its database at every start
        with open(root / "app.db", "a") as db:
            db.write("started\n")

    loop = loops(act_s=0, on_loop=looped.append)
    loop.watcher.on_batch = lambda batch: (loop._on_batch(batch), act(batch))
    (root / "app.py").write_text("v2")
    wait_until(lambda: looped, 10, 0.01, "the loop detected")
    acted = len(loop.batches)
    assert acted == feedback.LOOP_COUNT, [b.paths for _, b in loop.batches]
    (root / "app.py").write_text("v3")  # a real save still reloads, and the loop does not resume
    wait_until(lambda: sum("app.py" in b.paths for _, b in loop.batches) >= 2, 5, 0.005)
    with open(root / "app.db", "a") as db:
        db.write("later\n")
    (root / "app.py").write_text("v4")
    wait_until(lambda: sum("app.py" in b.paths for _, b in loop.batches) >= 3, 5, 0.005)
    assert looped == ["app.db"]
    assert all(b.paths != ["app.db"] for _, b in loop.batches[acted:])


def test_a_save_made_after_the_new_code_served_but_before_devbox_heard_of_it_is_not_a_loop(root, loops):
    """A command's reload takes effect when the new code answers; the ready event reaches devbox
    later (the log stream's delay). Saving again as soon as the page shows the change, every
    time, falls in between: that save was not written by the reload."""
    looped = []
    saves = feedback.LOOP_COUNT + 2
    loop = loops(act_s=0, on_loop=looped.append)

    def act(batch):
        loop._on_batch(batch)
        served = time.time()  # the new code answers
        time.sleep(0.1)  # stands for the user's reaction: the next save
        if len(loop.batches) < saves:
            (root / "app.py").write_text("v%d" % (len(loop.batches) + 2))
        time.sleep(0.1)  # the rest of the ready event's way to devbox
        batch.settled_at = served

    loop.watcher.on_batch = act
    (root / "app.py").write_text("v2")
    wait_until(lambda: len(loop.batches) >= saves or looped, 20, 0.01, "every save acted on")
    assert looped == []
    assert [b.paths for _, b in loop.batches] == [["app.py"]] * saves


def test_saves_after_each_reload_faster_than_it_or_with_other_files_are_not_a_loop():
    guard = feedback.LoopGuard()
    for n in range(10):  # written during each action, but with another file every other time
        guard.acted(100.0 + n, 100.1 + n)
        assert not guard.is_loop(["app.db", "app.py"] if n % 2 else ["app.db"], 100.05 + n, 100.05 + n)
    for n in range(10):  # a person saving the same file 0.2 s after each reload
        guard.acted(200.0 + n, 200.1 + n)
        assert not guard.is_loop(["app.py"], 200.3 + n, 200.3 + n)
    for n in range(10):  # saving faster than it reloads: from during the reload to after it
        guard.acted(300.0 + n, 300.1 + n)
        assert not guard.is_loop(["app.py"], 300.05 + n, 300.3 + n)
    for n in range(feedback.LOOP_COUNT):  # written during each reload, and only then
        guard.acted(400.0 + n, 400.1 + n)
        assert guard.is_loop(["app.db"], 400.05 + n, 400.06 + n) == (n == feedback.LOOP_COUNT - 1)


# -- file events that do not arrive ---------------------------------------------------------------

WATCH_IN_A_USER_NAMESPACE = r"""
import sys, threading
from devbox import filters
from devbox.watch import Watcher

root = sys.argv[1]
with open("/proc/sys/user/max_inotify_watches", "w") as f:  # this namespace's own limit
    f.write("3")
def say(*words):
    print(*words, flush=True)
w = Watcher(root, ["."], filters.PathFilter(root), 50, on_batch=lambda b: say("batch", *b.paths),
            on_polling=lambda reason, paths: say("polling", reason))
w.start()
say("started")
w.run()
"""


def test_a_full_inotify_watch_table_is_said_and_the_tree_polled(root):
    import subprocess
    import sys

    deep = root / "a" / "b" / "c" / "d" / "e"
    deep.mkdir(parents=True)
    out = open(root.parent / "watcher.out", "w+")
    # A user namespace has its own inotify limit (/proc/sys/user/max_inotify_watches): a full
    # table for this watcher alone, none of the machine's.
    child = subprocess.Popen(["unshare", "-U", "-r", sys.executable, "-c", WATCH_IN_A_USER_NAMESPACE, str(root)],
                             stdout=out, stderr=subprocess.STDOUT)
    try:
        def text():
            return (root.parent / "watcher.out").read_text()

        wait_until(lambda: "started" in text(), 10, 0.01, "the watcher started")
        assert "polling the inotify watch limit (fs.inotify.max_user_watches = " in text(), text()
        (deep / "m.py").write_text("deep")
        wait_until(lambda: "batch a/b/c/d/e/m.py" in text(), 5, 0.01, "the deep save, polled")
    finally:
        child.terminate()
        child.wait(5)
        out.close()


def test_a_tree_whose_file_system_delivers_no_events_is_found_at_start_and_polled(root, loops, monkeypatch):
    from devbox import notify

    class Deaf(notify.Notifier):
        """Stands for a VM share or network mount, which cannot be mounted here: inotify is on,
        but no event ever comes. Polling (the real poll watcher) still works."""

        def watch(self, debounce_ms, step_ms, timeout_ms):
            if self.polling:
                return super().watch(debounce_ms, step_ms, timeout_ms)
            time.sleep(timeout_ms / 1000.0)
            return "timeout"

    monkeypatch.setattr(notify, "Notifier", Deaf)
    told = []
    loop = loops(act_s=0, on_polling=lambda reason, paths: told.append((reason, paths)))
    assert told == [("no file events arrive from . (a VM share or a network mount?)", ["."])]
    assert not list(root.glob(".devbox-canary-*"))
    (root / "app.py").write_text("v2")
    loop.wait_for("app.py")
