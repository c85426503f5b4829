"""`devbox up` for a compose project: compose starts it, then a live-reload proxy in front of each
supervised service's published port and one watcher over every service's paths, split per
service on each batch, with recovery healing the project under it.

A mixin of devbox.compose.session.ComposeSession: it uses the session's up, stop, engine,
containers and report.
"""

from __future__ import annotations

from devbox import events, hooks, serving
from devbox import status as statuses
from devbox.compose.dispatch import Dispatcher, Running, UnionFilter
from devbox.compose.override import hooked_service
from devbox.interfaces import Serving
from devbox.urls import http_url


class ComposeServing:
    """The serving half of a compose session (see the module docstring)."""

    def serve(self, watch: bool = True) -> Serving:
        """`devbox up`: compose starts the project, and with `watch` one watcher reloads per service."""
        running = self.up()
        for container in self.by_service(all=False).get(hooked_service(self.config), [])[:1]:
            hooks.attach(self.client, container, self._place(), self.lifecycle)
        watcher = self.watcher(running) if watch else None
        stop = self.stop
        fronting = self._fronting(running)
        if fronting is not None:
            stop = fronting.after(stop)
        if watcher is not None:
            from devbox.compose.healing import ComposePatient

            patient = ComposePatient(self, running)
            healing = serving.heal(patient, watcher, self.engine, self.config, self.report, watcher.on_batch)
            stop = serving.stopping_first(healing, stop)
        return Serving(urls=dict(running.urls), stop=stop, watcher=watcher, unsupervised=list(running.unsupervised))

    # -- live reload (devbox/live/) ----------------------------------------------------------------
    def _fronting(self, running: Running):
        """A live-reload proxy per supervised service with a published port, on a port of its
        own (compose publishes the port the compose file names, and an override can only add
        ports, not take one away): its URL comes first in the service's URLs. Local engines only:
        a remote one publishes on its own machine."""
        if not (self.config.live_reload and not self.engine.remote and callable(getattr(self.report, "add_reader", None))):
            return None
        from devbox.live.fronting import Fronting

        fronting = Fronting(self.report)
        try:
            for service in self.compose.services:
                if running.urls.get(service.name):
                    proxy = fronting.front(("127.0.0.1", 0), lambda s=service: self._service_address(s.name, s.port),
                                           service=service.name, what=running.urls[service.name][0])
                    running.urls[service.name] = [http_url(*proxy.listen), *running.urls[service.name]]
        except BaseException:
            fronting.close()
            raise
        return fronting

    def _service_address(self, service: str, port: int):
        """Where this machine reaches `service`'s first running container's `port` now."""
        for container in self.by_service(all=False).get(service, [])[:1]:
            for found, url in statuses.published(container):
                if found == port:
                    host, _, number_ = url.rpartition(":")
                    return host.replace("http://", "").strip("[]"), int(number_)
        return None

    def watcher(self, running: Running):
        """One watcher over every supervised service's paths, split per service on each batch;
        started. A saved devbox.yml asks for a restart."""
        from devbox.watch import Watcher

        union = UnionFilter(self.config)
        paths = sorted({p for s in self.compose.services for p in s.watch.paths})
        watcher = Watcher(self.config.root, paths, union, self.config.watch.debounce_ms,
                          on_batch=Dispatcher(self, running, union).act,
                          on_unchanged=lambda changed: self.report(events.UNCHANGED, paths=changed),
                          config_file=self.config.path, on_config=serving.restart_needed(self.config, self.report),
                          on_error=serving.action_failed(self.report),
                          on_unreadable=lambda path: self.report(events.WATCH_UNREADABLE, path=path))
        watcher.start()
        return watcher
