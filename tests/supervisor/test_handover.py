"""The handover order, exactly: the supervisor loop's bookkeeping with one seam mocked, the
spawner. Its "children" are socketpairs (we play the child end) with made-up pids, and signals
are recorded instead of sent. End to end, the same property is checked under load in
test_overlap.py, where the window it guards is too short to hit on purpose."""

import io
import socket
from types import SimpleNamespace

import pytest

from devbox.supervisor import parent, protocol
from devbox.supervisor.heartbeat import Heartbeat
from devbox.supervisor.interfaces import Spawner


class FakeSpawner(Spawner):
    holds_socket = True
    reports_ready = True

    def __init__(self):
        self.children = []  # (pid, our end as the child)
        self.learned = []

    def app(self, generation):
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        pid = 90000 + generation
        self.children.append((pid, theirs))
        return pid, ours

    def errorpage(self, report):
        return self.app(0)

    def learn(self, modules):
        self.learned.extend(modules)


@pytest.fixture
def loop(tmp_path, monkeypatch):
    signals = []
    monkeypatch.setattr(parent, "kill_group",
                        lambda pid, signum, leader_alive=True: signals.append((pid, signum)))
    options = SimpleNamespace(app="app:app", command=[], overlap=True, grace=5.0,
                              status_file=str(tmp_path / "status.json"), listen="fd",
                              host="127.0.0.1", port=8000)
    out = io.StringIO()
    spawner = FakeSpawner()
    sup = parent.Supervisor(options, spawner, Heartbeat(str(tmp_path / "lock")), out=out)
    sup.signals = signals
    sup.fake = spawner

    def events():
        found = (protocol.parse_event(line) for line in out.getvalue().splitlines())
        return [(kind, fields.get("generation")) for kind, fields in (e for e in found if e)]

    def say(generation, message):
        """The child of `generation` sends `message`; the supervisor reads it."""
        pid, end = spawner.children[generation - 1]
        end.sendall(message.encode() + b"\n")
        sup._read_control(sup.children[pid])

    def heard(generation):
        pid, end = spawner.children[generation - 1]
        end.setblocking(False)
        try:
            return end.recv(4096).decode().split()
        except BlockingIOError:
            return []

    sup.events, sup.say, sup.heard = events, say, heard
    return sup


def test_ready_is_printed_only_after_the_old_child_stopped_accepting(loop):
    loop._spawn_app(loop.clock())
    loop.say(1, protocol.MSG_READY)
    assert loop.events() == [("ready", 1)]

    loop._reload(protocol.REASON_SIGHUP, loop.clock())
    assert loop.heard(1) == [] and loop.signals == []  # the old child keeps serving
    loop.say(2, "%s dep other.dep" % protocol.MSG_MODULES)
    loop.say(2, protocol.MSG_READY)
    assert loop.heard(1) == [protocol.MSG_STOP]  # told to stop accepting...
    assert (90001, parent.signal.SIGTERM) in loop.signals
    assert loop.events() == [("ready", 1), ("reloading", 2)]  # ...and ready waits for it
    loop.say(1, protocol.MSG_STOPPED)
    assert loop.events() == [("ready", 1), ("reloading", 2), ("ready", 2)]
    assert loop.fake.learned == ["dep", "other.dep"]


def test_failed_import_is_announced_after_the_old_child_stopped_too(loop):
    loop._spawn_app(loop.clock())
    loop.say(1, protocol.MSG_READY)
    loop._reload(protocol.REASON_SIGHUP, loop.clock())
    loop.say(2, '%s {"summary": "app.py:1: SyntaxError"}' % protocol.MSG_CRASHED)
    loop.say(2, protocol.MSG_READY)  # it serves the error page
    assert loop.heard(1) == [protocol.MSG_STOP]
    assert loop.events()[-1] == ("reloading", 2)
    loop._child_exited(loop.children.pop(90001), 0)  # exiting counts as having stopped
    assert loop.events()[-1] == ("crashed", 2)


def test_a_reload_while_the_new_child_imports_replaces_only_that_one(loop):
    loop._spawn_app(loop.clock())
    loop.say(1, protocol.MSG_READY)
    loop._reload(protocol.REASON_SIGHUP, loop.clock())
    loop._reload(protocol.REASON_SIGHUP, loop.clock())  # generation 2 is outdated at once
    assert loop.heard(2) == [protocol.MSG_STOP] and loop.heard(1) == []
    loop.say(3, protocol.MSG_READY)
    assert loop.heard(1) == [protocol.MSG_STOP]
    loop.say(1, protocol.MSG_STOPPED)
    assert loop.events()[-1] == ("ready", 3)


def test_without_overlap_the_old_child_stops_at_once_and_ready_still_waits(loop):
    loop.overlap = False
    loop._spawn_app(loop.clock())
    loop.say(1, protocol.MSG_READY)
    loop._reload(protocol.REASON_SIGHUP, loop.clock())
    assert loop.heard(1) == [protocol.MSG_STOP]
    loop.say(2, protocol.MSG_READY)
    assert loop.events()[-1] == ("reloading", 2)
    loop.say(1, protocol.MSG_STOPPED)
    assert loop.events()[-1] == ("ready", 2)


def test_a_new_child_that_dies_before_its_turn_is_reported_crashed_not_ready(loop):
    loop._spawn_app(loop.clock())
    loop.say(1, protocol.MSG_READY)
    loop._reload(protocol.REASON_SIGHUP, loop.clock())
    loop.say(2, protocol.MSG_READY)
    loop._child_exited(loop.children.pop(90002), 1)
    loop.say(1, protocol.MSG_STOPPED)
    assert loop.events() == [("ready", 1), ("reloading", 2), ("crashed", 2)]
