"""devbox.recovery's decisions: why a container stopped, when to stop restarting it, a lost engine
(a real docker client on a unix socket nobody listens on), and the policy's answers to what the
engine watch reports, on a patient made here (the real ones need an engine: tests/integration)."""

import threading

import pytest

from devbox import recovery


def test_an_oom_kill_and_a_signal_are_said_in_words():
    # The State block of `docker inspect` for a container the kernel killed, as the engine writes it.
    oom = {"Status": "exited", "Running": False, "OOMKilled": True, "ExitCode": 137, "Error": ""}
    assert recovery.Stopped.of_state(oom).reason() == "killed for using too much memory (OOMKilled, exit status 137)"
    killed = {"Status": "exited", "OOMKilled": False, "ExitCode": 137}
    assert recovery.Stopped.of_state(killed).reason() == "exit status 137 (SIGKILL)"
    assert recovery.Stopped.of_state({"Status": "exited", "ExitCode": 1}).reason() == "exit status 1"
    assert recovery.Stopped("removed").reason() == "removed"


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_rapid_deaths_give_up_and_a_save_tries_exactly_once_more():
    clock = Clock()
    policy = recovery.CrashPolicy(clock)
    decisions = []
    for _ in range(recovery.RAPID_DEATHS):
        clock.now += 1
        decisions.append(policy.died())
        policy.started()
    assert decisions == [True] * (recovery.RAPID_DEATHS - 1) + [False]
    policy.retry()
    clock.now += 1
    assert policy.died() is False  # died again at once: give up again


def test_a_death_long_after_the_start_restarts_however_many_came_before():
    clock = Clock()
    policy = recovery.CrashPolicy(clock)
    for _ in range(10):
        clock.now += recovery.RAPID_UPTIME_S + 1
        assert policy.died()
        policy.started()


def test_a_refused_connection_means_a_lost_engine_and_its_pings_back_off(tmp_path):
    import docker

    client = docker.DockerClient(base_url=f"unix://{tmp_path / 'engine.sock'}", timeout=2, version="1.41")
    with pytest.raises(Exception) as lost:
        client.ping()
    assert recovery.engine_lost(lost.value)
    assert not recovery.engine_lost(ValueError("not the engine"))
    waits = [recovery.engine_backoff(n) for n in range(8)]
    assert waits[:5] == list(recovery.ENGINE_BACKOFF_S) and waits[5:] == [recovery.ENGINE_BACKOFF_S[-1]] * 3


# -- the policy, on a patient made here: the engine's reports arrive as the watch sends them ----

class Box:
    """A container as recovery sees it: an id, a name and an inspect State."""

    def __init__(self, name):
        self.id, self.name = f"{name}-id", name
        self.attrs = {"State": {"Status": "running", "Running": True}}

    def reload(self):
        if isinstance(self.attrs, Exception):
            raise self.attrs

    def die(self, code):
        self.attrs = {"State": {"Status": "exited", "Running": False, "ExitCode": code, "OOMKilled": False}}


class FakePatient:
    def __init__(self, *labels, keeps_dying=False):
        self.boxes = {label: Box(label or "app") for label in labels}
        self.restarts, self.brought_back, self.refollowed = [], 0, []
        self.keeps_dying = keeps_dying
        self.streams = {label: True for label in labels}

    def containers(self):
        return dict(self.boxes)

    def following(self, label):
        return self.streams[label]

    def refollow(self, label):
        self.refollowed.append(label)
        self.streams[label] = True

    def restart(self, label):
        from devbox.errors import EngineError

        self.restarts.append(label)
        if self.keeps_dying:
            raise EngineError("the container exited at start: boom")
        self.boxes[label].attrs = {"State": {"Status": "running", "Running": True}}

    def bring_back(self):
        self.brought_back += 1
        for box in self.boxes.values():
            box.attrs = {"State": {"Status": "running", "Running": True}}


def healing(patient):
    said, acted = [], []
    stopping = threading.Event()
    heal = recovery.Recovery(patient, lambda event, **f: said.append((event, f)), "unix://x", stopping,
                             on_error=lambda batch, exc: said.append(("error", exc)))
    heal._worker.start()
    on_batch = heal.guard(acted.append)
    return heal, on_batch, said, acted, stopping


def names(said):
    return [event for event, _ in said]


def test_a_died_service_is_said_restarted_alone_and_said_back():
    from devbox import events
    from tests.waiting import wait_until

    patient = FakePatient("web", "api")
    heal, on_batch, said, acted, stopping = healing(patient)
    patient.boxes["api"].die(137)
    heal.died("api-id")
    heal.died("somebody-elses-id")
    wait_until(lambda: events.CONTAINER_RESTARTED in names(said), 5, 0.01, "restarted")
    assert names(said) == [events.CONTAINER_STOPPED, events.CONTAINER_RESTARTED]
    assert said[0][1] == {"service": "api", "name": "api", "reason": "exit status 137 (SIGKILL)"}
    assert patient.restarts == ["api"]
    on_batch("save")
    assert acted == ["save"]
    stopping.set()


def test_a_container_that_keeps_dying_waits_for_a_save_which_tries_once_more():
    from devbox import events
    from tests.waiting import wait_until

    patient = FakePatient("", keeps_dying=True)
    heal, on_batch, said, acted, stopping = healing(patient)
    patient.boxes[""].die(1)
    heal.died("app-id")
    wait_until(lambda: events.CONTAINER_DOWN in names(said), 5, 0.01, "given up")
    assert len(patient.restarts) == recovery.RAPID_DEATHS - 1
    assert said[-1][1]["rapid"] is True and "boom" in said[-1][1]["reason"]
    on_batch("save")  # tries once more (and gives up again at once), then acts on the save
    assert len(patient.restarts) == recovery.RAPID_DEATHS and acted == ["save"]
    stopping.set()


def test_saves_while_the_engine_is_away_are_held_and_acted_on_once_it_is_back():
    from devbox import events
    from tests.waiting import wait_until

    patient = FakePatient("")
    heal, on_batch, said, acted, stopping = healing(patient)
    heal.lost("ConnectionError: refused")
    wait_until(lambda: events.ENGINE_LOST in names(said), 5, 0.01, "lost")
    patient.boxes[""].die(137)
    heal.died("app-id")  # while the engine is away: nothing to do before it is back
    heal.lost("ConnectionError: refused")  # said once
    on_batch("save 1")
    on_batch("save 2")
    assert acted == []
    heal.back()
    wait_until(lambda: acted == ["save 1", "save 2"], 5, 0.01, "the held saves acted on")
    assert names(said) == [events.ENGINE_LOST, events.ENGINE_BACK, events.CONTAINER_RESTARTED]
    assert patient.brought_back == 1 and patient.restarts == []
    stopping.set()


def test_a_container_restarted_by_someone_else_is_followed_again():
    from tests.waiting import wait_until

    patient = FakePatient("")
    heal, on_batch, said, acted, stopping = healing(patient)
    patient.streams[""] = False  # its log stream ended with the old process
    heal.died("app-id")  # already running again when looked at
    heal.started("app-id")
    wait_until(lambda: patient.refollowed == [""], 5, 0.01, "followed again")
    assert said == [] and patient.restarts == []
    stopping.set()
