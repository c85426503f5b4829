"""The seams of the supervisor, written down: what the loop in parent.py needs from a spawner.

spawn.ExecSpawner (a fresh interpreter or command per child) and warm.WarmSpawner (children
forked from a warm template) implement it, and so do the tests' fakes. An ABC rather than a
typing.Protocol: abc is loaded at interpreter start, typing would cost the parent an import,
and subclassing gives the optional hooks their do-nothing defaults.
"""

import abc


class SpawnError(Exception):
    """exec failed (command not found, not executable...); the message says which and why."""


class Spawner(abc.ABC):
    """Starts the supervisor's children. The loop calls app() and errorpage(), and hands the
    spawner what it cannot use itself: readable fds, reaped pids, the modules a child reports.

    A started child is `(pid, control)`: its pid (it leads its own process group) and our end
    of its control socket (non-blocking; None for a command, which has none).
    """

    @property
    @abc.abstractmethod
    def holds_socket(self):
        """True when children share the supervisor's socket, so a new one may start while the
        old one drains; otherwise the old one must release the port first."""

    @property
    @abc.abstractmethod
    def reports_ready(self):
        """True when the app child says when it serves (MSG_READY); a command cannot."""

    @abc.abstractmethod
    def app(self, generation):
        """Start the app child of this generation: (pid, control), or None when it will come
        from take() later. Raises SpawnError."""

    @abc.abstractmethod
    def errorpage(self, report):
        """Start a server that answers every request with the error page for `report`:
        (pid, control). Raises SpawnError."""

    def fds(self):
        """fds the supervisor should watch for us (on_readable)."""
        return []

    def on_readable(self, fd):
        """One of fds() is readable."""

    def take(self):
        """[(generation, (pid, control) or SpawnError)]: app children started since last time."""
        return []

    def reaped(self, pid, status):
        """True when `pid` was a process of ours, not a child the supervisor knows."""
        return False

    def learn(self, modules):
        """A child imported these dependencies (see MSG_MODULES)."""

    def learn_setup(self, spec):
        """A child's app set a framework up as `spec` says (see MSG_SETUP)."""

    def serving(self):
        """An app child serves now (ready, or its error page)."""

    def describe(self):
        """For the status file: how children start."""
        return {}

    def close(self):
        """The supervisor stops: end whatever we run besides the children."""
