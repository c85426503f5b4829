"""What the supervisor says: its events and log lines on stdout, and the status file (a mixin of
parent.Supervisor, which holds the state both describe)."""

import os
import sys

from devbox.supervisor import protocol
from devbox.supervisor.primitives import write_line
from devbox.supervisor.status import write_status


class Reporting:
    """Supervisor's output; reads its options, state and spawner."""

    def _announce(self):
        o = self.options
        what = "app %s" % o.app if o.app else "command %s" % " ".join(o.command)
        self._emit(protocol.EVENT_STARTED, what, pid=os.getpid(),
                   python=_python_version(), listen=o.listen,
                   address=protocol.format_address(o.host, o.port))

    def _what(self):
        if self.options.app:
            return "the app %s" % self.options.app
        return "the command `%s`" % " ".join(self.options.command)

    def _emit(self, kind, message=None, **fields):
        self._write(protocol.format_event(kind, message, **fields))

    def _log(self, message):
        self._write(protocol.log_line(message))

    def _write(self, line):
        write_line(self.out, line)

    def _write_status(self):
        o = self.options
        status = {
            "supervisor_pid": os.getpid(),
            "child_pid": self.current.pid if self.current is not None else None,
            "generation": self.generation,
            "state": self.state,
            "reloads": self.reloads,
            "started_at": self.started_at,
            "ready_at": self.ready_at,
            "last_reload_ms": self.latencies,
            "python": _python_version(),
            "listen": o.listen,
            "address": protocol.format_address(o.host, o.port),
            "overlap": self.overlap or self.command_overlap,
        }
        status.update(self.spawner.describe())
        if o.app:
            status["app"] = o.app
        else:
            status["command"] = list(o.command)
        try:
            write_status(o.status_file, status)
        except OSError as exc:
            self._log("cannot write the status file %s: %s" % (o.status_file, exc))


def _python_version():
    """platform.python_version() without importing platform (~3 ms at every start): the same
    first word of sys.version."""
    return sys.version.split()[0]
