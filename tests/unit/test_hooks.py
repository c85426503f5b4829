"""Lifecycle commands: the moments, their order, the gate and failures, with a fake runner (the
container side is covered by tests/integration/test_devcontainer.py)."""

import io
import tarfile
import threading

import pytest

from devbox import config as configuration
from devbox import events, gate, hooks


def load(tmp_path, hooks_text):
    (tmp_path / "devbox.yml").write_text("name: h\napp: app:app\nhooks:\n" + hooks_text)
    return configuration.load(tmp_path / "devbox.yml", environ={})


class Recorder:
    """A container runner that records what ran, in order, and the gate's release among them."""

    def __init__(self, fail=()):
        self.ran = []
        self.fail = fail
        self.lock = threading.Lock()

    def run(self, argv, on_output):
        with self.lock:
            self.ran.append(argv[-1])
        on_output(f"out of {argv[-1]}")
        return 7 if argv[-1] in self.fail else 0

    def release(self):
        self.ran.append("RELEASE")


def report_into(seen):
    return lambda event, **fields: seen.append((event, fields))


def test_a_new_container_runs_the_creation_moments_then_post_start_and_opens_the_gate_at_wait_for(tmp_path):
    cfg = load(tmp_path, "  on_create: a\n  update_content: b\n  post_create: c\n  post_start: d\n")
    recorder = Recorder()
    hooks.Lifecycle(cfg, report_into([])).container(recorder.run, hooks.start_moments(created=True), recorder.release)
    assert recorder.ran == ["a", "b", "RELEASE", "c", "d"]  # wait_for defaults to update_content


def test_a_restart_runs_post_start_only(tmp_path):
    cfg = load(tmp_path, "  on_create: a\n  post_start: d\n  wait_for: post_start\n")
    recorder = Recorder()
    hooks.Lifecycle(cfg, report_into([])).container(recorder.run, hooks.start_moments(created=False), recorder.release)
    assert recorder.ran == ["d", "RELEASE"]


def test_the_object_form_runs_in_parallel_with_each_output_under_its_name(tmp_path):
    cfg = load(tmp_path, "  post_create: {one: 'sleep 1', two: 'true'}\n  wait_for: post_create\n")
    seen = []
    both = threading.Barrier(2, timeout=5)  # each waits for the other: passes only when both run at once

    def run(argv, on_output):
        both.wait()
        on_output("done")
        return 0

    hooks.Lifecycle(cfg, report_into(seen)).container(run, ("post_create",))
    assert sorted(f["label"] for e, f in seen if e == events.HOOK_OUTPUT) == ["one", "two"]


def test_a_failing_hook_ends_the_chain_and_opens_the_gate(tmp_path):
    cfg = load(tmp_path, "  on_create: a\n  update_content: b\n  post_create: c\n  wait_for: post_create\n")
    recorder, seen = Recorder(fail=("a",)), []
    hooks.Lifecycle(cfg, report_into(seen)).container(recorder.run, hooks.start_moments(created=True), recorder.release)
    assert recorder.ran == ["a", "RELEASE"]
    assert (events.HOOK_FAILED, {"moment": "on_create", "label": "on_create", "status": 7}) in seen


def test_a_failed_initialize_on_the_host_skips_the_container_moments(tmp_path):
    cfg = load(tmp_path, "  initialize: 'echo from the host; exit 3'\n  post_start: d\n")
    recorder, seen = Recorder(), []
    lifecycle = hooks.Lifecycle(cfg, report_into(seen))
    lifecycle.host(environ={"PATH": "/usr/bin:/bin"})
    lifecycle.container(recorder.run, ("post_start",))
    assert (events.HOOK_OUTPUT, {"label": "initialize", "line": "from the host"}) in seen
    assert (events.HOOK_FAILED, {"moment": "initialize", "label": "initialize", "status": 3}) in seen
    assert recorder.ran == []


@pytest.mark.parametrize("text, gated", [
    ("  post_create: c\n", False),  # after the default wait_for: the app does not wait
    ("  update_content: b\n", True),
    ("  post_start: d\n  wait_for: post_start\n", True),
    ("  initialize: i\n  wait_for: initialize\n", False),  # on the host, before the start
])
def test_the_container_is_gated_only_when_the_app_waits_for_container_commands(tmp_path, text, gated):
    assert hooks.gated(load(tmp_path, text)) is gated


def test_the_gate_archive_holds_its_launcher_and_a_fifo():
    with tarfile.open(fileobj=io.BytesIO(gate.archive())) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members[gate.GATE_FIFO.lstrip("/")].isfifo()
    launcher = members[gate.GATE_LAUNCHER.lstrip("/")]
    assert launcher.isfile() and launcher.mode & 0o111
    assert gate.release_argv()[-1] == gate.GATE_FIFO
