"""firstuse.exercise: each library's exercise runs once, only once the library is imported, and
one that leaves a thread behind is named (the template must not keep it)."""

import sys
import threading

from devbox.supervisor import firstuse


def test_an_exercise_runs_once_and_only_for_an_imported_library(monkeypatch):
    runs = []
    monkeypatch.setattr(firstuse, "_EXERCISES", (("json", lambda: runs.append("json")),
                                                 ("not_imported_lib", lambda: runs.append("x"))))
    monkeypatch.setattr(firstuse, "_done", set())
    monkeypatch.delitem(sys.modules, "not_imported_lib", raising=False)
    monkeypatch.setattr(firstuse._thread, "_count", lambda: 0)
    assert firstuse.exercise() is None and firstuse.exercise() is None
    assert runs == ["json"]


def test_an_exercise_that_fails_is_left_alone_and_one_that_starts_a_thread_is_named(monkeypatch):
    release = threading.Event()

    def fails():
        raise RuntimeError("no")

    def starts_a_thread():
        threading.Thread(target=release.wait, daemon=True).start()

    monkeypatch.setattr(firstuse, "_EXERCISES", (("json", fails), ("os", starts_a_thread)))
    monkeypatch.setattr(firstuse, "_done", set())
    running = threading.active_count()  # this process's threads, earlier tests' included
    monkeypatch.setattr(firstuse._thread, "_count", lambda: threading.active_count() - running)
    try:
        assert firstuse.exercise() == "os"
    finally:
        release.set()
