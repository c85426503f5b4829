"""`devbox up` for one container: the container serving (its ports forwarded for an ssh://
engine), a live-reload proxy on each of devbox.yml's host ports in front of it, and a started
watcher driving it through a ContainerTarget, with recovery healing it.

A mixin of devbox.session.Session: it uses the session's plan, up, stop, container, engine and
report.
"""

from __future__ import annotations

from typing import Optional

from devbox import hooks
from devbox import plan as planning
from devbox.interfaces import Serving


def _nothing() -> None:
    pass


class ContainerServing:
    """The serving half of a single-container session (see the module docstring)."""

    # -- live reload (devbox/live/) ----------------------------------------------------------------
    def _fronting(self, spec: planning.ContainerSpec, forwarding=None):
        """The started live-reload proxies for `spec.live`, reaching the app through `forwarding`
        when there is one."""
        from devbox.live.fronting import Fronting

        fronting = Fronting(self.report)
        try:
            self._refront(fronting, forwarding, spec)
        except BaseException:
            fronting.close()
            raise
        return fronting

    def _refront(self, fronting, forwarding, spec: Optional[planning.ContainerSpec] = None) -> None:
        """A proxy on each address of the spec's live ports (those no longer wanted closed: a
        saved devbox.yml moved a port)."""
        spec = spec or self.plan()
        fronting.keep_only((ip, port) for ip, port, _ in spec.live)
        for ip, port, container_port in spec.live:
            if (ip, port) not in fronting.proxies:
                fronting.front((ip, port), lambda c=container_port: self._app_address(c, forwarding),
                               what=f"container port {container_port}")

    def _app_address(self, container_port: int, forwarding=None):
        """Where this machine reaches `container_port` now: the ssh forward's local end, or the
        port the engine published it at (asked again after a restart: it may change)."""
        if forwarding is not None:
            tunnel = forwarding.tunnel
            found = [f for f in (tunnel.forwards if tunnel is not None else []) if f.container_port == container_port]
            return ("127.0.0.1", found[0].local_port) if found else None
        container = self.container()
        return _published(container, container_port) if container is not None else None

    def _tell_fronting(self, fronting, container, spec: planning.ContainerSpec) -> None:
        """Each proxy told where the started `container` (its attrs read after the start)
        publishes its port, so that the first request does not ask the engine (a list and an
        inspect) on its way."""
        for ip, port, container_port in spec.live:
            address = _published(container, container_port)
            if address is not None:
                fronting.tell((ip, port), address)

    def serve(self, watch: bool = True) -> Serving:
        """`devbox up`: the container serving (ports forwarded for an ssh:// engine) and, with
        `watch`, a started watcher driving it. Watching starts before the app does, so a save
        made while it starts is not lost."""
        from devbox import serving
        from devbox.targets import ContainerTarget

        forwarding = None
        planned = self.plan()
        if self.engine.forwards_ports:  # ssh:// engine: its ports are forwarded to this machine
            from devbox.tunnel import Forwarding

            forwarding = Forwarding(self.engine.url, self.config.name, report=self.report)
        # Live reload (devbox/live/): a proxy takes the host ports devbox.yml names, in front of
        # the container's ephemeral ones (an ssh forward's local end on an ssh:// engine, never
        # the engine's published address, which is on the other machine); only for the agent,
        # whose bus tells it when the new code serves.
        fronting = self._fronting(planned, forwarding) if planned.live else None
        forwards = planned.forwards
        if fronting is not None and forwards:  # the forward's local end is the proxy's upstream
            from devbox.live.fronting import free_port

            forwards = tuple(("127.0.0.1", free_port(), container_port) for _, _, container_port in forwards)
        if forwarding is not None:
            try:
                forwarding.prepare(forwards)
            except BaseException:
                if fronting is not None:
                    fronting.close()
                raise
        # The watcher is made and started while the engine creates the container, and is started
        # before it runs.
        starting = serving.Starting(make=lambda: serving.new_watcher(self.config, self.report, start=False)) \
            if watch else None
        self._before_start = starting.join if starting is not None else _nothing
        try:
            container, stream = self.up()
        except BaseException:
            if fronting is not None:
                fronting.close()
            raise
        finally:
            self._app_may_start()  # joined whatever happened (a running container was reused)
        watcher = starting.join() if starting is not None else None
        spec = self.plan()
        inspected = not self.engine.remote
        if inspected:  # once, after the start: the ports it publishes here, and its PID 1
            container.reload()
            if fronting is not None and forwarding is None:
                self._tell_fronting(fronting, container, spec)
        hooks.attach(self.client, container, hooks.Place.of_spec(spec), self.lifecycle)
        if forwarding is not None:
            try:
                forwarding.open(container, forwards, detach=not watch)
            except BaseException:  # no URL: leave nothing running (the container is kept for the next up)
                self.stop()
                if fronting is not None:
                    fronting.close()
                raise
        stop = (lambda: self.stop() + forwarding.close()) if forwarding else self.stop
        if fronting is not None:
            stop = fronting.after(stop)
        if watcher is not None:
            def on_recreated(new):
                if forwarding is not None:
                    forwarding.refresh(new, forwards)
                if fronting is not None:
                    self._refront(fronting, forwarding)

            target = ContainerTarget(self, container, stream, self.report, on_recreated=on_recreated,
                                     inspected=inspected)
            healing = serving.heal(target, watcher, self.engine, self.config, self.report, target.act)
            watcher.on_config = lambda batch: serving.apply_config(target, watcher, self.report, forwarding is not None)
            stop = serving.stopping_first(healing, stop)
        return Serving(urls={None: list(spec.urls)}, stop=stop, watcher=watcher)


def _published(container, container_port: int):
    """Where this machine reaches `container_port` of `container` as its attrs say, or None."""
    bindings = ((container.attrs.get("NetworkSettings") or {}).get("Ports") or {}).get(f"{container_port}/tcp") or []
    port = next((b.get("HostPort") for b in bindings if b.get("HostPort")), None)
    return ("127.0.0.1", int(port)) if port else None
