"""Fixtures of the watcher's unit tests: a project tree, loops and running watchers."""

import threading

import pytest

from tests.unit.watching import Loop


@pytest.fixture
def root(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "app.py").write_text("v1")
    return project


@pytest.fixture
def loops(root):
    """loops(**kw) starts a Loop on `root`; every one is stopped, and checked, when the test ends."""
    started = []

    def start(**kw):
        started.append(Loop(root, **kw))
        return started[-1]

    yield start
    for loop in started:
        loop.stop()


@pytest.fixture
def running():
    """running(watcher) runs a started watcher in a thread until the test ends."""
    threads = []

    def run(watcher):
        thread = threading.Thread(target=watcher.run, daemon=True)
        thread.start()
        threads.append((watcher, thread))
        return thread

    yield run
    for watcher, thread in threads:
        watcher.stop_event.set()
        thread.join(5)
        assert not thread.is_alive()
