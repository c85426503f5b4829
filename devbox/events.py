"""The events the core reports for the CLI to render: `report(NAME, **fields)`.

Every name is emitted somewhere in devbox and rendered by a `Console.on_NAME` method in cli.py
(tests/unit/test_events.py checks both ways). The supervisor's own events (ready, crashed...)
are its contract, in supervisor/protocol.py; they reach the CLI inside SUPERVISOR.
"""

# -- image and container ------------------------------------------------------------------------
IMAGE = "image"  # image=NAME how=cached|pulling|building
PULL = "pull"  # image status id: a pull's progress (-v)
BUILD = "build"  # line: the builder's output
BUILT = "built"  # image seconds
CONTAINER = "container"  # name how=created|running|restarting|recreating spec
CONTAINER_STOPPED = "container_stopped"  # name reason: it stopped underneath devbox
CONTAINER_RESTARTED = "container_restarted"  # name seconds: brought back, serving again
CONTAINER_DOWN = "container_down"  # name reason rapid: not restarted until the next save
ENGINE_LOST = "engine_lost"  # url error: the engine stopped answering; waited for with back-off
ENGINE_BACK = "engine_back"  # url seconds
USER_UID = "user_uid"  # user uid gid why: updateRemoteUserUID done (why "") or not (why)

# -- lifecycle commands (devbox.hooks) -----------------------------------------------------------
HOOK_RUN = "hook_run"  # moment labels: a moment's commands start (-v)
HOOK_OUTPUT = "hook_output"  # label line: one line of a command's output
HOOK_FAILED = "hook_failed"  # moment label status: the chain ends here

# -- the supervisor's output --------------------------------------------------------------------
LINE = "line"  # line: one line of the app's output
SUPERVISOR = "supervisor"  # kind (a protocol EVENT_*), its fields

# -- the watcher and its actions ----------------------------------------------------------------
WATCHING = "watching"  # paths files
RELOADED = "reloaded"  # paths ms, stage timings
RELOAD_FAILED = "reload_failed"  # paths ms: the new child crashed (SUPERVISOR said why)
RELOAD_TIMEOUT = "reload_timeout"  # paths seconds
SYNCED = "synced"  # paths
UNCHANGED = "unchanged"  # paths: saved with the same bytes
REBUILDING = "rebuilding"  # paths
REBUILT = "rebuilt"  # seconds
REBUILD_UNCHANGED = "rebuild_unchanged"  # seconds
ACTION_FAILED = "action_failed"  # paths error
WATCH_POLLING = "watch_polling"  # reason paths: file events do not arrive; polled instead
WATCH_UNREADABLE = "watch_unreadable"  # path: a directory devbox may not read; left out, the rest watched
FEEDBACK_LOOP = "feedback_loop"  # path: changes after every action and alone; no longer acted on

# -- devbox.yml saved while running -------------------------------------------------------------
CONFIG_APPLIED = "config_applied"  # recreated url
CONFIG_UNCHANGED = "config_unchanged"
CONFIG_INVALID = "config_invalid"  # error
CONFIG_RESTART = "config_restart"  # reason

# -- remote engines -----------------------------------------------------------------------------
COPIED = "copied"  # files bytes seconds workdir: the initial copy
TREE_PROVED = "tree_proved"  # changed deleted files seconds: a kept container's tree made the host's
SYNC_FAILED = "sync_failed"  # paths error
FORWARDING = "forwarding"  # url destination remote_port pid detached
FORWARD_MESSAGE = "forward_message"  # line hint
FORWARD_LOST = "forward_lost"  # status reason
FORWARD_RETRYING = "forward_retrying"  # reason: the first try to start a lost forward again failed
FORWARD_REOPENED = "forward_reopened"  # urls pid attempts: a lost forward listens again
FORWARD_STOPPED = "forward_stopped"  # urls pid: `devbox down` stopped a detached forward

# -- browser live reload (devbox/live/) -----------------------------------------------------------
LIVE_PROXY = "live_proxy"  # url upstream: a live-reload proxy listens there, in front of the app

# -- compose ------------------------------------------------------------------------------------
COMPOSE_UP = "compose_up"  # cli project file services
COMPOSE = "compose"  # line: compose's output (-v)
COMPOSE_UNUSABLE = "compose_unusable"  # error

# -- the agent (devbox/agent/) ---------------------------------------------------------------
AGENT_STARTED = "agent_started"  # pid socket log detached: it holds the project's lock
SERVING = "project_up"  # urls {label: [url]} unsupervised detached dashboard: the project serves
BATCH = "batch"  # action changed deleted: a save seen, the action chosen for it
# What the engine's own event stream says (devbox.engine_watch), devbox's own stops and starts
# included; what devbox.recovery does about it is said by the events above, so these render
# only at -v.
CONTAINER_EXITED = "container_exited"  # name id exit_code: the engine says a container died
CONTAINER_STARTED = "container_started"  # name id: ... or (re)started
# The dashboard (devbox/dashboard/): it listens, and a button was pressed on it.
DASHBOARD_STARTED = "dashboard_started"  # address port: the dashboard listens (its URL with the token: project_up)
DASHBOARD_ACTION = "dashboard_action"  # action (reload, rebuild, restart): a button pressed (`service`: whose)
AGENT_FAILED = "agent_failed"  # error: it could not start serving, and exits
AGENT_STOPPED = "agent_stopped"  # seconds: what it started is stopped; it exits

ALL = tuple(value for name, value in sorted(globals().items()) if name.isupper() and isinstance(value, str))
