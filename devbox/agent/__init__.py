"""The per-project agent: the watcher and reloader of `devbox up` in one process per project,
in the foreground (`devbox up`) or in the background (`devbox up -d`), answering on a unix
socket only its user can reach.

- home.py: where a project's agent lives (directory, lock, socket, log), and its permissions.
- bus.py: the event bus; the console, the log file and `devbox events` all read from it.
- progress.py: what serves now, per label, and whether what is on disk has been acted on.
- control.py: the control protocol (one JSON object per line) and its client.
- server.py: the agent's side of the socket.
- runner.py: the agent itself: lock, socket, serve, watch, stop.
- detach.py: starting an agent that outlives the terminal.

Nothing here imports the Docker SDK except runner.py, so a client command
answered by the agent (`devbox status`) starts fast.
"""
