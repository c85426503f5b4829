"""Where a browser on this machine reaches a published address: the one URL rule.

A wildcard bind (0.0.0.0, ::, or the engine's empty HostIp) is reached through loopback of the
same family; an IPv6 host goes in brackets (RFC 3986), else `http://::1:8000` opens nowhere.
"""

from __future__ import annotations

_WILDCARD_TO_LOOPBACK = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}


def connect_host(ip: str) -> str:
    """The address to connect to for a listener bound to `ip` (a wildcard becomes loopback)."""
    return _WILDCARD_TO_LOOPBACK.get(ip, ip)


def url_host(ip: str) -> str:
    """The host part of a URL for a listener bound to `ip`."""
    host = connect_host(ip)
    return f"[{host}]" if ":" in host else host


def http_url(ip: str, port) -> str:
    """`http://HOST:PORT` for a listener bound to `ip`:`port`."""
    return f"http://{url_host(ip)}:{port}"
