"""A server that takes its socket the systemd way (LISTEN_FDS / LISTEN_PID, fd 3), as
`uvicorn --fd 3` or `gunicorn --bind fd://3` do. Answers every request with its pid, LISTEN_PID
and BODY. Standard library only; run as a command child of the supervisor. FD3_SERVER_DELAY
(seconds) is how long it "imports" before it serves, like a real app; FD3_SERVER_LINGER how long
it takes to exit once told to stop (it accepts nothing more meanwhile), like a server finishing
its requests."""

import json
import os
import select
import signal
import socket
import sys
import time

BODY = "fd3 v1"


def main():
    if os.environ.get("LISTEN_FDS") != "1" or os.environ.get("LISTEN_PID") != str(os.getpid()):
        sys.exit("no socket passed for this pid: LISTEN_FDS=%r LISTEN_PID=%r pid=%d" % (
            os.environ.get("LISTEN_FDS"), os.environ.get("LISTEN_PID"), os.getpid()))
    listener = socket.socket(fileno=3)
    listener.setblocking(False)  # the socket is shared with other generations

    def stop(*_):
        listener.close()
        time.sleep(float(os.environ.get("FD3_SERVER_LINGER", "0")))
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    time.sleep(float(os.environ.get("FD3_SERVER_DELAY", "0")))
    while True:
        select.select([listener], [], [])
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            continue
        with conn:
            try:
                answer(conn)
            except OSError:  # the client went away (the supervisor's probe, taken back)
                pass


def answer(conn):
    conn.setblocking(True)
    request = b""
    while b"\r\n\r\n" not in request:
        chunk = conn.recv(4096)
        if not chunk:
            return
        request += chunk
    body = json.dumps({"body": BODY, "pid": os.getpid(),
                       "listen_pid": os.environ["LISTEN_PID"]}).encode()
    conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    conn.shutdown(socket.SHUT_WR)


if __name__ == "__main__":
    main()
