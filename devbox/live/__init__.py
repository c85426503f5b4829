"""Browser live reload, in step with readiness: a page of the app open in a browser reloads when
(and only when) the new code serves it, shows the error as an overlay when the new code failed
to load, and swaps a saved stylesheet without a reload.

A host-side proxy run by the agent takes the host port devbox.yml names; the container publishes
the app's port on 127.0.0.1 at a port the engine picks (an ssh forward's local end, for an
ssh:// engine). The proxy passes every byte through, except that a complete, uncompressed
text/html answer gets one `<script>` tag; the script listens to the agent's events, which know
when the new code answers (the supervisor's ready comes after the new child answered).

- inject.py: which answers get the tag, and where it goes (pure).
- feed.py: the agent's events as live messages (reload, css, failed), numbered and kept.
- upstream.py: connecting to the app, patiently while it restarts.
- proxy.py: the threaded HTTP/1.1 proxy, the event stream and the script.
- live.js: the script itself.
- fronting.py: the proxies of one project, started and moved with it.
"""

from __future__ import annotations

import json

LIVE_LABEL = "devbox.live"  # on the container: [[container port, URL], ...] the proxy serves


def live_label(live) -> str:
    """The devbox.live label of a container whose ports the proxy fronts at `live`
    ((host_ip, host_port, container_port)...), so `devbox status` shows the URL to open."""
    from devbox.urls import http_url

    return json.dumps([[container_port, http_url(ip, port)] for ip, port, container_port in live])


def read_label(labels) -> list:
    """[(container port, URL)] from a container's labels ([] without, or unreadable)."""
    try:
        return [(int(port), str(url)) for port, url in json.loads(labels.get(LIVE_LABEL) or "[]")]
    except (ValueError, TypeError):
        return []
