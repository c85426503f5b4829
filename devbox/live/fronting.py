"""The live-reload proxies of one project: bound before the app starts (a taken port fails
`devbox up` at once, before anything runs), moved when a saved devbox.yml moves a port, closed
with the project. One Feed reads the agent's bus for all of them."""

from __future__ import annotations

import errno
import socket
from typing import Callable, Dict, Iterable, Optional, Tuple

from devbox import events
from devbox.errors import DevboxError
from devbox.live.feed import Feed
from devbox.live.proxy import LiveProxy
from devbox.live.upstream import Address, Upstream
from devbox.urls import http_url

Listen = Tuple[str, int]


def free_port(ip: str = "127.0.0.1") -> int:
    """A port nothing listens on now (for an ssh forward's local end, which ssh must be told)."""
    with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET) as probe:
        probe.bind((ip, 0))
        return probe.getsockname()[1]


def port_taken(ip: str, port: int) -> DevboxError:
    return DevboxError(f"port {port} on {ip} is already in use on this machine; set `ports: [\"{port + 1}:...\"]` "
                       "in devbox.yml or stop what uses it. Nothing was started")


class Fronting:
    """Proxies by listening address, all fed by one Feed."""

    def __init__(self, report: Callable[..., None]):
        self.report = report
        self.feed = Feed()
        add_reader = getattr(report, "add_reader", None)  # the agent's bus; a plain callable has none
        self.attached = callable(add_reader)
        if self.attached:
            add_reader(self.feed)
        self.proxies: Dict[Listen, LiveProxy] = {}

    def front(self, listen: Listen, resolve: Callable[[], Optional[Address]], service: str = "",
              what: str = "") -> LiveProxy:
        """A started proxy on `listen` in front of the app `resolve` finds."""
        proxy = LiveProxy(listen, Upstream(resolve), self.feed, service)
        try:
            proxy.bind()
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                raise port_taken(*listen) from None
            raise DevboxError(f"cannot listen on {listen[0]}:{listen[1]}: {exc.strerror}") from None
        self.proxies[proxy.listen] = proxy.start()
        self.report(events.LIVE_PROXY, url=http_url(*proxy.listen), upstream=what, service=service or None)
        return proxy

    def tell(self, listen: Listen, address: Address) -> None:
        """The app behind the proxy on `listen` is at `address` (known to the caller): it need
        not be resolved."""
        proxy = self.proxies.get(listen)
        if proxy is not None:
            proxy.upstream.moved(address)

    def keep_only(self, wanted: Iterable[Listen]) -> None:
        """Close the proxies not listening on one of `wanted`."""
        wanted = set(wanted)
        for listen in [key for key in self.proxies if key not in wanted]:
            self.proxies.pop(listen).close()

    def after(self, stop: Callable[[], float]) -> Callable[[], float]:
        """`stop`, then these proxies closed whatever happened; `stop`'s seconds."""
        def both() -> float:
            try:
                return stop()
            finally:
                self.close()
        return both

    def close(self) -> float:
        self.feed.close()
        for proxy in self.proxies.values():
            proxy.close()
        self.proxies = {}
        return 0.0
