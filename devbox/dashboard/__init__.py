"""The agent's dashboard: a page on 127.0.0.1 that shows the project live (its services, each
reload and its stage times, the current error, the logs) and has its buttons (reload, rebuild,
restart), read from the same event bus as `devbox events`, so the two cannot disagree.

- access.py: who may use it: the token in the URL the agent prints, swapped for a cookie; the
  Host and Origin rules that keep other sites (and other users' pages) out.
- devbox/sse.py (shared with live reload): bus records as Server-Sent Events.
- server.py: the HTTP server thread in the agent.
- assets/: the page (HTML, CSS and a small script; nothing from outside 127.0.0.1).
"""
