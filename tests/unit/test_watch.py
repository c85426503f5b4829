"""The watcher on real files: the content check, batches from events, and the loop itself with
the real notifier (inotify) in a thread: timing, bursts, vanished paths, stopping."""

import os
import shutil
import time

import pytest
from watchfiles import Change

from devbox import content
from devbox.content import ContentIndex, file_digest
from tests.unit.watching import new_watcher
from tests.waiting import wait_until


def event(root, rel, change=Change.modified):
    return change, str(root / rel)


# -- ContentIndex ---------------------------------------------------------------------------------


def test_content_index_tells_edits_from_touches(root):
    index = ContentIndex(root)
    assert index.prime(["app.py"]) == 1
    os.utime(root / "app.py", (1, 1))
    assert not index.really_changed("app.py")
    (root / "app.py").write_text("v1")  # truncate and write the same bytes
    assert not index.really_changed("app.py")
    (root / "app.py").write_text("v2")
    assert index.really_changed("app.py")
    assert not index.really_changed("app.py")  # v2 is now what was acted on


def test_content_index_counts_unknown_and_unhashable_files_as_changed(root, monkeypatch):
    index = ContentIndex(root)
    (root / "new.py").write_text("x")
    assert index.really_changed("new.py")
    monkeypatch.setattr(content, "MAX_HASHED_BYTES", 3)
    (root / "big.py").write_text("0123456789")
    index.prime(["big.py"])
    assert index.really_changed("big.py") and index.really_changed("big.py")


def test_content_index_tells_an_emptied_file(root):
    index = ContentIndex(root)
    (root / "empty.py").write_text("")
    index.prime(["app.py", "empty.py"])
    assert not index.emptied("app.py") and not index.emptied("empty.py") and not index.emptied("new.py")
    (root / "app.py").write_text("")
    assert index.emptied("app.py")
    assert index.really_changed("app.py") and not index.emptied("app.py")  # acted on: empty is what it holds


def test_content_index_forgets_files_and_directories(root):
    (root / "pkg").mkdir()
    (root / "pkg" / "a.py").write_text("a")
    (root / "pkgs.py").write_text("p")
    index = ContentIndex(root)
    index.prime(["app.py", "pkg/a.py", "pkgs.py"])
    assert index.forget("pkg") and "pkg/a.py" not in index and "pkgs.py" in index
    assert index.forget("app.py") and not index.forget("app.py")
    assert not index.forget("never-seen.tmp")


# -- to_batch -------------------------------------------------------------------------------------


def test_an_edit_is_a_reload_batch_with_its_write_time(root):
    w = new_watcher(root)
    w.start()
    (root / "app.py").write_text("v2")
    mtime = (root / "app.py").stat().st_mtime
    batch = w.to_batch([event(root, "app.py")])
    assert (batch.action, batch.changed, batch.deleted) == ("reload", ["app.py"], [])
    assert batch.t0 == mtime and batch.at >= batch.t0
    w.close()


def test_touch_and_same_bytes_are_reported_unchanged(root):
    unchanged = []
    w = new_watcher(root, on_unchanged=unchanged.append)
    w.start()
    os.utime(root / "app.py")
    assert w.to_batch([event(root, "app.py")]) is None
    tmp = root / ".app.py.tmp"  # an editor's atomic save of the same bytes
    tmp.write_text("v1")
    os.replace(tmp, root / "app.py")
    assert w.to_batch([event(root, ".app.py.tmp", Change.added), event(root, ".app.py.tmp", Change.deleted),
                       event(root, "app.py", Change.added)]) is None
    assert unchanged == [["app.py"], ["app.py"]]
    w.close()


def test_rename_save_is_a_change_of_the_target_only(root):
    w = new_watcher(root)
    w.start()
    tmp = root / "app.py.tmp123"
    tmp.write_text("v2")
    os.replace(tmp, root / "app.py")
    batch = w.to_batch([event(root, "app.py.tmp123", Change.added), event(root, "app.py.tmp123", Change.deleted),
                        event(root, "app.py", Change.added)])
    assert (batch.changed, batch.deleted) == (["app.py"], [])
    w.close()


def test_deleted_files_and_directories(root):
    (root / "pkg").mkdir()
    (root / "pkg" / "a.py").write_text("a")
    (root / "pkg" / "b.py").write_text("b")
    w = new_watcher(root)
    w.start()
    shutil.rmtree(root / "pkg")
    batch = w.to_batch([event(root, "pkg/a.py", Change.deleted), event(root, "pkg", Change.deleted)])
    assert batch.action == "reload" and batch.changed == []
    assert set(batch.deleted) <= {"pkg", "pkg/a.py"} and batch.deleted
    assert "pkg/b.py" not in w.contents
    w.close()


def test_deleted_and_written_again_is_a_change_or_nothing(root):
    w = new_watcher(root)
    w.start()
    (root / "app.py").unlink()
    (root / "app.py").write_text("v1")  # a checkout that rewrote the same bytes
    assert w.to_batch([event(root, "app.py", Change.deleted), event(root, "app.py", Change.added)]) is None
    (root / "app.py").unlink()
    (root / "app.py").write_text("v2")
    batch = w.to_batch([event(root, "app.py", Change.deleted), event(root, "app.py", Change.added)])
    assert (batch.changed, batch.deleted) == (["app.py"], [])
    w.close()


def test_a_new_directory_is_walked(root):
    # inotify watches a new directory only once it exists: files written into it before that
    # raise no event of their own.
    w = new_watcher(root)
    w.start()
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "pkg" / "sub" / "m.py").write_text("m")
    (root / "pkg" / "__pycache__").mkdir()
    (root / "pkg" / "__pycache__" / "m.pyc").write_text("c")
    batch = w.to_batch([event(root, "pkg", Change.added)])
    assert batch.changed == ["pkg/sub/m.py"]
    w.close()


def test_actions_ignored_paths_and_the_strongest(root):
    w = new_watcher(root)
    w.start()
    (root / "templates").mkdir()
    (root / "templates" / "a.html").write_text("a")
    (root / "requirements.txt").write_text("# none")
    (root / "x.swp").write_text("swap")
    assert w.to_batch([event(root, "templates/a.html")]).action == "sync"
    assert w.to_batch([event(root, "x.swp")]) is None
    (root / "templates" / "a.html").write_text("b")
    (root / "app.py").write_text("v2")
    assert w.to_batch([event(root, "templates/a.html"), event(root, "app.py")]).action == "reload"
    batch = w.to_batch([event(root, "requirements.txt")])
    assert (batch.action, batch.changed) == ("rebuild", ["requirements.txt"])
    w.close()


def test_only_the_watched_paths_count(root):
    (root / "src").mkdir()
    (root / "src" / "m.py").write_text("m")
    w = new_watcher(root, paths=["src"])
    w.start()
    (root / "app.py").write_text("v2")
    (root / "src" / "m.py").write_text("m2")
    assert w.to_batch([event(root, "app.py")]) is None
    assert w.to_batch([event(root, "app.py"), event(root, "src/m.py")]).changed == ["src/m.py"]
    assert w.to_batch([(Change.modified, "/elsewhere/app.py")]) is None
    w.close()


def test_an_old_mtime_does_not_date_the_batch(root):
    # A file moved in, or copied with `cp -p`, keeps an mtime from long ago.
    w = new_watcher(root)
    w.start()
    (root / "old.py").write_text("old")
    os.utime(root / "old.py", (1_000_000, 1_000_000))
    batch = w.to_batch([event(root, "old.py", Change.added)])
    assert time.time() - batch.t0 < 60


def test_the_config_file_is_marked_for_its_handler(root):
    config = root / "devbox.yml"
    config.write_text("name: a\n")
    w = new_watcher(root, config_file=config, on_config=lambda b: None)
    w.start()
    config.write_text("name: b\n")
    batch = w.to_batch([event(root, "devbox.yml")])
    assert batch.changed == ["devbox.yml"] and batch.action == "reload"
    w.close()


# -- the loop, with the real notifier -----------------------------------------------------------------


def test_a_lone_save_is_acted_on_within_a_few_steps(root, loops):
    loop = loops(act_s=0)
    latencies = []
    for n in range(5):
        time.sleep(0.1)  # lone saves: a save right after an action would be part of a burst
        written = time.time()
        (root / f"m{n}.py").write_text(str(n))
        arrived = wait_until(lambda n=n: [at for at, b in loop.batches if f"m{n}.py" in b.paths], 5, 0.001)[0]
        latencies.append(arrived - written)
    assert sorted(latencies)[2] < 0.1, latencies  # typically 2 steps of 5 ms; the machine is shared
    assert len(loop.batches) == 5


def test_touch_and_identical_saves_cause_nothing(root, loops):
    unchanged = []
    loop = loops(on_unchanged=unchanged.append)
    os.utime(root / "app.py")
    wait_until(lambda: unchanged, 5, 0.005, "the touch seen and dropped")
    (root / "app.py").write_text("v1")
    (root / "sentinel.py").write_text("s")
    loop.wait_for("sentinel.py")
    assert [b.paths for _, b in loop.batches] == [["sentinel.py"]]


def test_an_atomic_save_of_the_same_bytes_by_a_slow_editor_causes_nothing(root, loops):
    unchanged = []
    loop = loops(on_unchanged=unchanged.append)
    tmp = root / ".app.py.new"
    tmp.write_text((root / "app.py").read_text())
    time.sleep(0.02)  # the stimulus, not a wait: an editor slower than one watcher step
    os.replace(tmp, root / "app.py")
    wait_until(lambda: unchanged, 5, 0.005, "the save seen and dropped")
    (root / "sentinel.py").write_text("s")
    loop.wait_for("sentinel.py")
    assert [b.paths for _, b in loop.batches] == [["sentinel.py"]]


def test_a_save_that_truncates_then_writes_slowly_is_one_batch_of_the_written_file(root, loops):
    loop = loops(act_s=0)
    with open(root / "app.py", "w") as saving:  # truncated: empty on disk
        saving.flush()
        time.sleep(0.02)  # the stimulus, not a wait: a writer descheduled between truncate and write
        saving.write("v2")
    (root / "sentinel.py").write_text("s")
    loop.wait_for("sentinel.py")
    assert len([b for _, b in loop.batches if "app.py" in b.paths]) == 1  # not one when empty, then one when written


def test_a_file_really_emptied_is_acted_on(root, loops):
    loop = loops(act_s=0)
    (root / "app.py").write_text("")
    batch = loop.wait_for("app.py")
    assert batch.changed == ["app.py"] and (root / "app.py").read_text() == ""


def test_a_burst_of_1000_files_is_at_most_two_batches_and_the_last_has_the_final_state(root, loops):
    loop = loops(act_s=0.06)
    (root / "pkg").mkdir()
    for n in range(1000):
        (root / "pkg" / f"m{n}.py").write_text(f"{n}")
    (root / "pkg" / "m999.py").write_text("final")
    wait_until(lambda: any("pkg/m999.py" in b.paths for _, b in loop.batches[-1:])
               and len({p for _, b in loop.batches for p in b.paths}) >= 1000, 10, 0.01, "the whole burst seen")
    time.sleep(0.3)  # a third batch would come within the debounce; a bounded look, not a wait
    assert 1 <= len(loop.batches) <= 2, [len(b.paths) for _, b in loop.batches]
    assert loop.watcher.contents._digests["pkg/m999.py"] == file_digest(root / "pkg" / "m999.py")


def test_saves_made_during_an_action_collapse_into_one_trailing_batch(root, loops):
    loop = loops(act_s=0.3)
    (root / "app.py").write_text("first")
    loop.wait_for("app.py")
    for n in range(20):  # all while the first action runs
        (root / "app.py").write_text(f"edit {n}")
        time.sleep(0.005)
    wait_until(lambda: len(loop.batches) == 2, 5, 0.005, "the trailing batch")
    (root / "sentinel.py").write_text("s")
    loop.wait_for("sentinel.py")
    assert [b.paths for _, b in loop.batches] == [["app.py"], ["app.py"], ["sentinel.py"]]


def test_a_vanished_watched_directory_comes_back(root, loops):
    (root / "src").mkdir()
    (root / "src" / "m.py").write_text("m")
    loop = loops(paths=["src"])
    shutil.rmtree(root / "src")
    wait_until(lambda: any("src/m.py" in b.deleted or "src" in b.deleted for _, b in loop.batches), 5, 0.005,
               "the deletion")
    (root / "src").mkdir()
    (root / "src" / "m.py").write_text("back")
    wait_until(lambda: any(b.changed == ["src/m.py"] for _, b in loop.batches), 5, 0.005, "the file written again")
    (root / "src" / "n.py").write_text("n")
    loop.wait_for("src/n.py")
    (root / "app.py").write_text("v2")  # outside the watched path
    (root / "src" / "sentinel.py").write_text("s")
    loop.wait_for("src/sentinel.py")
    assert not any("app.py" in b.paths for _, b in loop.batches)


@pytest.mark.parametrize("back", [False, True])
def test_a_watched_directory_replaced_while_nobody_reads_events_is_compared_with_the_index(root, back, running):
    # The notifier of a vanished root is replaced, and the events it held go with it.
    (root / "src").mkdir()
    (root / "src" / "m.py").write_text("m")
    batches = []
    w = new_watcher(root, paths=["src"], on_batch=batches.append)
    w.start()
    shutil.rmtree(root / "src")
    if back:
        (root / "src").mkdir()
        (root / "src" / "m.py").write_text("other bytes")
    running(w)
    wait_until(lambda: batches, 5, 0.005, "the difference acted on")
    assert (batches[0].changed, batches[0].deleted) == ((["src/m.py"], []) if back else ([], ["src/m.py"]))


def test_a_failed_action_is_reported_and_the_loop_goes_on(root, running):
    failures = []

    def act(batch):
        if batch.paths == ["bad.py"]:
            raise RuntimeError("engine went away")
        seen.append(batch)

    seen = []
    w = new_watcher(root, on_batch=act, on_error=lambda batch, exc: failures.append((batch.paths, str(exc))))
    w.start()
    running(w)
    (root / "bad.py").write_text("x")
    wait_until(lambda: failures, 5, 0.005, "the failure reported")
    (root / "good.py").write_text("y")
    wait_until(lambda: seen, 5, 0.005, "the next batch")
    assert failures == [(["bad.py"], "engine went away")]


def test_the_config_file_goes_to_its_handler_and_the_rest_to_the_target(root, loops):
    config = root / "devbox.yml"
    config.write_text("name: a\n")
    configs = []
    loop = loops(config_file=config, on_config=configs.append)
    config.write_text("name: b\n")
    (root / "app.py").write_text("v2")
    loop.wait_for("app.py")
    wait_until(lambda: configs, 5, 0.005, "the config handler called")
    assert [b.paths for b in configs] == [["devbox.yml"]]
    assert [b.paths for _, b in loop.batches] == [["app.py"]]


def test_a_save_before_run_is_acted_on_when_run_begins(root, running):
    # start() before the app starts, run() once it serves: a save in between is not lost.
    batches = []
    w = new_watcher(root, on_batch=batches.append)
    w.start()
    (root / "app.py").write_text("saved while the app was starting")
    time.sleep(0.05)  # the app's start-up, during which nobody is reading events
    running(w)
    wait_until(lambda: batches, 5, 0.005, "the early save acted on")
    assert batches[0].changed == ["app.py"]
