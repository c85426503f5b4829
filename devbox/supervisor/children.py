"""The children the supervisor started and has not reaped yet: their role, generation, state
in the handover, and the line protocol on their control sockets (MSG_* in protocol.py).
"""

import os

from devbox.supervisor.primitives import send_line

ROLE_APP = "app"
ROLE_ERRORPAGE = "errorpage"


class Child:
    """A child we started and have not reaped yet."""

    def __init__(self, pid, control, role, generation, requested_at):
        self.pid = pid
        self.control = control  # our end of its control socket, or None
        self.role = role
        self.generation = generation
        self.requested_at = requested_at  # monotonic time of the request that started it
        self.ready = False
        self.report = None  # crash report it sent
        self.accepting = False  # it said it serves (ready or crashed) and not yet "stopped"
        self.kill_at = None  # SIGKILL deadline once it was asked to stop
        self._buffer = b""

    def send(self, message):
        send_line(self.control, message)  # it is gone or going: its exit tells us the rest

    def read_messages(self):
        """Complete lines received so far (non-blocking); closes the control socket at EOF."""
        if self.control is None:
            return []
        while True:
            try:
                data = self.control.recv(65536)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                data = b""
            if not data:
                self.control.close()
                self.control = None
                break
            self._buffer += data
        *lines, self._buffer = self._buffer.split(b"\n")
        return [line.decode("utf-8", "replace") for line in lines]


def exit_status(status):
    """A waitpid status as the events show it: the exit code, or minus the killing signal."""
    if os.WIFSIGNALED(status):
        return -os.WTERMSIG(status)
    return os.WEXITSTATUS(status)
