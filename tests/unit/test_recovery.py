"""devbox.recovery's decisions: why a container stopped, when to stop restarting it, waiting for
an engine that is not there (a real docker client on a unix socket nobody listens on)."""

import socket
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


def test_waiting_for_an_engine_that_is_not_there_backs_off_until_it_answers(tmp_path):
    import docker

    path = tmp_path / "engine.sock"
    client = docker.DockerClient(base_url=f"unix://{path}", timeout=2, version="1.41")
    with pytest.raises(Exception) as lost:
        client.ping()
    assert recovery.engine_lost(lost.value)
    waits = []
    server = socket.socket(socket.AF_UNIX)

    def sleep(seconds):
        waits.append(seconds)
        if len(waits) == 3:  # the engine comes back: a socket answering /_ping like dockerd
            server.bind(str(path))
            server.listen(1)
            threading.Thread(target=answer, daemon=True).start()

    def answer():
        conn, _ = server.accept()
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nOK")
        conn.close()

    assert recovery.wait_for_engine(client.ping, stop=lambda: False, sleep=sleep)
    assert waits == list(recovery.ENGINE_BACKOFF_S[:3])
    server.close()


def test_waiting_for_the_engine_ends_when_devbox_stops(tmp_path):
    import docker

    client = docker.DockerClient(base_url=f"unix://{tmp_path / 'none.sock'}", timeout=2, version="1.41")
    stopping = threading.Event()
    assert not recovery.wait_for_engine(client.ping, stop=stopping.is_set, sleep=lambda s: stopping.set())
