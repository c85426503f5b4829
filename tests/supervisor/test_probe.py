"""The readiness probe of command children, on real sockets on 127.0.0.1. Its clock is the one
thing faked (so the 20 s deadline passes at once); select() and the sockets are real."""

import os
import select
import socket
import subprocess

from devbox.supervisor import owner, probe, protocol
from tests.supervisor.conftest import free_port
from tests.waiting import wait_until


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def advance(prober):
    """One turn of the parent loop: select on the probe's fds, then step()."""
    readable, writable, _ = select.select(prober.read_fds(), prober.write_fds(), [],
                                          min(0.05, prober.timeout() or 0.05))
    return prober.step(readable, writable)


def run(prober, until=2.0):
    """Turns of the loop until step() reports: the (target, outcome) it returned."""
    return wait_until(lambda: advance(prober), timeout=until, interval=0,
                      message="the probe reports")


def sent(prober):
    """Turns of the loop until the probe's request is sent."""
    advance(prober)  # connects
    wait_until(lambda: advance(prober) is None and not prober.write_fds(), timeout=2.0,
               interval=0, message="the request is sent")


def listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    return sock


def test_any_answer_is_ready_and_the_request_is_the_documented_one():
    server = listener()
    port = server.getsockname()[1]
    prober = probe.Prober("0.0.0.0", port, Clock())
    prober.expect("child")
    assert prober.step([], []) is None  # nothing before start(): an older child may answer
    prober.start()
    sent(prober)
    conn, _ = server.accept()
    assert conn.recv(4096) == probe.probe_request(port)
    assert b"User-Agent: %s" % protocol.PROBE_USER_AGENT.encode() in probe.probe_request(port)
    conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    conn.close()
    assert run(prober) == ("child", probe.ANSWERED)
    assert prober.target is None
    server.close()


def test_a_refused_probe_is_made_again_until_something_listens():
    port = free_port()
    clock = Clock()
    prober = probe.Prober("127.0.0.1", port, clock)
    prober.expect("child")
    prober.start()
    advance(prober)  # connects
    wait_until(lambda: advance(prober) is None and not prober.read_fds(), timeout=2.0,
               interval=0, message="refused, and waiting to be made again")
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(8)
    clock.now += protocol.PROBE_RETRY_AFTER
    sent(prober)
    conn, _ = server.accept()
    conn.recv(4096)
    conn.sendall(b"HTTP/1.0 200 OK\r\n\r\nhi")
    conn.close()
    assert run(prober) == ("child", probe.ANSWERED)
    server.close()


def test_a_command_that_never_answers_is_given_up_at_the_deadline():
    server = listener()  # accepts (the backlog does) and never answers
    clock = Clock()
    prober = probe.Prober("127.0.0.1", server.getsockname()[1], clock)
    prober.expect("child")
    prober.start()
    sent(prober)
    assert advance(prober) is None
    clock.now += protocol.PROBE_TIMEOUT
    assert prober.step([], []) == ("child", probe.TIMED_OUT)
    prober.close()
    server.close()


def test_a_dropped_probe_reports_nothing():
    server = listener()
    prober = probe.Prober("127.0.0.1", server.getsockname()[1], Clock())
    prober.expect("child")
    prober.start()
    sent(prober)
    prober.drop()
    assert prober.read_fds() == [] and prober.step([], []) is None
    server.close()


def test_this_linux_tells_who_accepted_a_connection():
    owners = owner.available()
    assert owners is not None, "sock_diag or /proc missing: commands would not overlap"
    server = listener()
    client = socket.create_connection(server.getsockname())
    assert owners.accepted_inode(client) == 0  # still in the backlog
    conn, _ = server.accept()
    inode = owners.accepted_inode(client)
    assert inode == os.fstat(conn.fileno()).st_ino
    assert owner.group_holds(os.getpgid(0), inode)
    assert not owner.group_holds(os.getpgid(0), inode + 1_000_000)
    for sock in (conn, client, server):
        sock.close()
    owners.close()


def test_with_overlap_the_probe_waits_for_the_new_processs_copy_of_the_socket_up_to_the_gate():
    """Until the new process holds a copy of the listener (it is about to serve), a probe would
    only be taken by the old one: none is made, for up to PROBE_GATE_WAIT (a slow import, such
    as Django's runserver at ~1 s, stays well inside it)."""
    owners = owner.available()
    server = listener()
    inode = os.fstat(server.fileno()).st_ino
    clock = Clock()
    importing = subprocess.Popen(["sleep", "60"])  # holds no copy of our listener
    try:
        prober = probe.Prober("127.0.0.1", server.getsockname()[1], clock, owners, inode)
        prober.expect("child", importing.pid)
        prober.start()
        for elapsed in (0.0, 1.0, protocol.PROBE_GATE_WAIT - 0.01):
            clock.now = 1000.0 + elapsed
            advance(prober)
            assert prober.read_fds() == [], "probed at %.2f s" % elapsed
        clock.now = 1000.0 + protocol.PROBE_GATE_WAIT
        advance(prober)
        assert prober.read_fds() != []  # given up waiting: probed anyway
        prober.expect("child", os.getpid())  # this process holds the listener: probed at once
        prober.start()
        advance(prober)
        assert prober.read_fds() != []
    finally:
        importing.kill()
        importing.wait()
        prober.close()
        server.close()
