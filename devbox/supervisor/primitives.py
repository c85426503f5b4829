"""The OS-level steps the parent, the spawners, the warm template and the child all take: signal
a process group, read a pipe to EOF, send a line on a control socket, bind the listening socket,
log a line, and leave without interpreter finalization.

Cheap to import (only modules the child has loaded anyway): the child imports it on every reload.
"""

import os
import socket
import sys
import time

from devbox.supervisor import protocol


def kill_group(pid, signum, leader_alive=True):
    """Signal the process group a child leads. The leader alone when it left its group (setsid);
    never after it was reaped, when its pid may already be someone else's."""
    try:
        os.killpg(pid, signum)
    except ProcessLookupError:
        if leader_alive:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass
    except PermissionError:
        pass


def renice_group(pid, niceness):
    """Lower the CPU priority of the process group a child leads (a no-op where it cannot)."""
    try:
        os.setpriority(os.PRIO_PGRP, pid, niceness)
    except (OSError, AttributeError):
        pass  # gone, or not ours to change: it only costs the new child some CPU


def read_to_eof(fd):
    """Everything written to the pipe `fd` until its writers close it; closes `fd`."""
    chunks = []
    try:
        while True:
            try:
                chunk = os.read(fd, 4096)
            except InterruptedError:
                continue
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


def send_line(sock, message):
    """One message on a control socket (None: there is none). A peer that is gone is no error
    here: its exit (or EOF) tells the other side the rest."""
    if sock is None:
        return
    try:
        sock.sendall(message.encode("utf-8") + b"\n")
    except OSError:
        pass


def write_line(out, line):
    try:
        out.write(line + "\n")
        out.flush()
    except (OSError, ValueError):
        pass  # nobody reads our output any more; keep supervising


def bind_listener(host, port, backlog=1024, attempts=1, retry_delay=0.05):
    """A listening TCP socket on host:port, non-blocking. With `attempts` > 1 a busy port is
    tried again every `retry_delay` seconds (the previous owner's processes may still be
    exiting)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for attempt in range(attempts):
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(backlog)
        except OSError:
            sock.close()
            if attempt >= attempts - 1:
                raise
            time.sleep(retry_delay)
            continue
        sock.setblocking(False)
        return sock
    raise ValueError("attempts must be at least 1")


def log(message):
    """A supervisor log line (not an event) on stderr, as a child writes it."""
    sys.stderr.write(protocol.log_line(message) + "\n")
    sys.stderr.flush()


def flush_and_exit(code, run_atexit=False):
    """Flush stdout and stderr and leave at once. Interpreter finalization would add ~15 ms to
    every stop, and an app's non-daemon threads would hold a reload or a stop for the whole grace
    period. With `run_atexit`, the app's atexit handlers still run first."""
    if run_atexit:
        import atexit

        run = getattr(atexit, "_run_exitfuncs", None)
        if run is not None:
            run()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def served_name(host):
    """The host name requests to a server listening on `host` carry: a wildcard address is
    reached as localhost (which Django's DEBUG ALLOWED_HOSTS admits), any other as itself."""
    return "localhost" if host in ("", "0.0.0.0", "::") else host
