"""When a command serves: the parent asks it over HTTP (probe.py), once no older child could
answer instead, or at once where owner.py tells who accepted the probe (a mixin of
parent.Supervisor). Its answer is the ready event, and stops the older ones."""

import os

from devbox.supervisor import owner, probe, protocol


class CommandReadiness:
    """Supervisor's probing of command children."""

    def _prober(self):
        """The probe of command children; overlapping when the options ask for overlap, the
        children share our socket and this system can tell who accepted a connection."""
        sock = getattr(self.spawner, "listen_sock", None)
        owners = None
        if getattr(self.options, "overlap", False) and sock is not None \
                and not self.spawner.reports_ready:
            owners = owner.available()
        inode = os.fstat(sock.fileno()).st_ino if owners is not None else None
        return probe.Prober(self.options.host, self.options.port, self.clock, owners, inode)

    def _probe(self, child):
        if self.options.port is None:
            self._ready(child)  # no port to ask on: it runs, that is all we know
            return
        self.prober.expect(child, child.pid)
        self._probe_when_alone()

    def _probe_when_alone(self):
        """Send the probe once no older child is left (a dying one could answer it), or at once
        when the probe can tell who accepted it."""
        child = self.prober.target
        if child is not None and (self.prober.overlaps
                                  or not any(c is not child for c in self.children.values())):
            self.prober.start()

    def _probed(self, child, outcome):
        if child is not self.current or self.stopping_since is not None:
            return
        if outcome == probe.TIMED_OUT and not self._told_unanswered:
            self._told_unanswered = True
            self._log("%s has not answered GET %s on port %s within %ss: reported ready anyway, "
                      "without a reload time (said once)"
                      % (self._what(), protocol.PROBE_PATH, self.options.port,
                         int(protocol.PROBE_TIMEOUT)))
        for other in [other for other in self.children.values() if other is not child]:
            self._terminate(other)  # overlap: the old command served until now
        # Ready now, not once the old process has exited (uvicorn takes 0.2-0.4 s to): the
        # reload's time and the event the host acts on (the browser's refresh, its loop
        # detector) end when the new code answers. The old one got the stop signal first, and
        # under the shim stops accepting on it (graceful.py), so the next connection is the
        # new one's.
        self._ready(child, measured=outcome == probe.ANSWERED)
