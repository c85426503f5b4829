"""The supervisor contract in one file: environment names, fds, exit codes, signals, timings,
default paths, the event lines the supervisor prints for the host to parse, and the requests of
the copy-mode receiver.

Both sides import this module (the host from the devbox package, the container from the copy
under /opt/devbox), so no literal of the contract is written anywhere else: a test
(tests/supervisor/test_contract_literals.py) fails when a host module spells one. Standard
library only, Python 3.8+, and cheap to import: the child imports it on every reload.
"""

# -- environment of the child ---------------------------------------------------------------
ENV_CHILD = "BOTTLE_CHILD"
CHILD_VALUE = "true"
ENV_LOCK_FILE = "LOCK_FILE"
ENV_BOTTLE_LOCKFILE = "BOTTLE_LOCKFILE"  # the name real Bottle reads; same path as LOCK_FILE
ENV_LISTEN_FD = "DEVBOX_LISTEN_FD"
ENV_LISTEN_FDS = "LISTEN_FDS"  # systemd socket activation: number of passed fds (1)
ENV_LISTEN_PID = "LISTEN_PID"  # systemd socket activation: pid the fds are meant for
ENV_CONTROL_FD = "DEVBOX_CONTROL_FD"  # wsgiref child only: socket to the parent (see MSG_*)
ENV_UNBUFFERED = "PYTHONUNBUFFERED"

# Off switch of the warm-up request (below): "0" in the app's env (devbox.yml `env:`).
ENV_WARM_UP = "DEVBOX_WARM_UP"
WARM_UP_OFF = "0"
# -- environment of a command child: what makes known servers serve on the supervisor's socket
# werkzeug (flask run, app.run) takes an inherited socket only when it believes it is its own
# reloader's child: WERKZEUG_RUN_MAIN=true plus the fd. `flask run`'s own reloader (on with
# --debug) is turned off unless the user set FLASK_RUN_RELOAD or --reload: devbox reloads.
# Set only when the supervisor holds the socket (werkzeug reads the fd whenever RUN_MAIN is on).
ENV_WERKZEUG_RUN_MAIN = "WERKZEUG_RUN_MAIN"
ENV_WERKZEUG_SERVER_FD = "WERKZEUG_SERVER_FD"
ENV_FLASK_RUN_RELOAD = "FLASK_RUN_RELOAD"
FLASK_RUN_RELOAD_OFF = "false"
# Django's runserver without RUN_MAIN=true is only a reloader that starts a second interpreter,
# the server, on every reload; with it, it serves at once (its own StatReloader then exits 3 on
# a change, which the supervisor honours). Set for every command child.
ENV_DJANGO_RUN_MAIN = "RUN_MAIN"
RUN_MAIN_VALUE = "true"  # the value both WERKZEUG_RUN_MAIN and Django's RUN_MAIN compare with
# Put first on PYTHONPATH of a command child when the supervisor holds the socket: its
# sitecustomize makes socketserver servers that bind the app's port serve on fd 3 (runserver).
SHIM_DIR = "shim"  # beside this file
# The shim's modules, beside this file too (loaded by path: see shim/sitecustomize.py).
SHIM_ADOPT_MODULE = "adopt.py"  # a Python socket binding the app's port takes fd 3
SHIM_GRACEFUL_MODULE = "graceful.py"  # socketserver servers stop without dropping requests
SHIM_BYTECODE_MODULE = "bytecode.py"  # installed and image modules read their caches in place
# The project directory (--project-dir, else the supervisor's cwd), for every command child: its
# Pythons cache the project's bytecode under PYTHONPYCACHEPREFIX and read every other module's
# cache where it lies (bytecode.private_caches), instead of compiling site-packages at each start.
ENV_PROJECT_DIR = "DEVBOX_PROJECT_DIR"
# An asyncio server (uvicorn) under the shim stops accepting on the stop signal at once (the new
# process takes the new connections) and gets the signal itself, for its own graceful exit
# (finish in-flight requests, close keep-alive connections), this much later: a request already
# on its way on a keep-alive connection arrives first instead of meeting a closed connection.
SHIM_ASYNC_STOP_DELAY = 0.05
# A stopping command (SIGTERM, Bottle's interrupt_main) lets its in-flight requests finish this
# long at most; under DEFAULT_GRACE, after which the supervisor sends SIGKILL.
SHIM_DRAIN_TIMEOUT = 4.0
ENV_PYTHONPATH = "PYTHONPATH"

# -- fds, exit codes, signals ---------------------------------------------------------------
LISTEN_FD = 3
CONTROL_FD = 4
RELOAD_EXIT_CODE = 3  # Bottle's and werkzeug's "restart me"
RELOAD_SIGNAL = "SIGHUP"  # host -> supervisor: reload now
STOP_SIGNALS = ("SIGTERM", "SIGINT")  # host -> supervisor: stop the child gracefully, exit 0

# -- timings (seconds) ----------------------------------------------------------------------
# --interval: how often a child that must poll looks (--poll-modules; and, with no control
# socket to the parent, the lockfile). A child with a control socket does not poll the lockfile:
# the parent's death is EOF there (and PDEATHSIG), so at rest it sleeps with no timeout.
DEFAULT_INTERVAL = 1.0
# The parent touches the lockfile every touch_period(interval) seconds: never more often than
# TOUCH_MIN_PERIOD, so an idle supervisor wakes 0.4 times a second, not once. Bottle's own child
# (`bottle.run(reloader=True)` under `command:`) takes a lockfile older than ITS interval + 5 s
# for a dead parent: 6 s at Bottle's default of 1 s, well above this period.
TOUCH_MIN_PERIOD = 2.5
STALE_MARGIN = 5.0
STALE_AFTER = TOUCH_MIN_PERIOD + STALE_MARGIN  # for the default interval; see stale_after()
DEFAULT_GRACE = 5.0  # SIGTERM -> SIGKILL for a child that does not finish in time
# The old child (and its process group) while its successor starts: the new one gets the CPU
# first on a loaded machine, and the old one still answers (a reload is timed by the new one).
OUTGOING_NICENESS = 10
IDLE_TIMEOUT = 5.0  # a connection that sends no request for this long is closed
STOP_IDLE_TIMEOUT = 1.0  # ... or for this long once its child is stopping
RELOAD_HISTORY = 50  # reload latencies kept in the status file
# A command cannot say when it serves, so the parent asks it: one HTTP request on the app's port
# (the probe, see probe.py), answered with any status, is "ready".
PROBE_PATH = "/"
PROBE_USER_AGENT = "devbox-probe"  # how the probe shows in the app's access log
PROBE_RETRY_AFTER = 0.01  # a refused or reset probe (nothing listens yet) is made again after
PROBE_TIMEOUT = 20.0  # no answer by then: reported ready anyway, and the log says so once
PROBE_DRAIN_TIMEOUT = 5.0  # an answered probe is read to EOF before it is closed, this long at most
# Overlap (owner.py): the old command serves while the probe waits for the new one to accept.
PROBE_OWNER_POLL = 0.002  # between looks at who accepted the probe, or at the new one's fds
PROBE_RETAKE_AFTER = 0.005  # a probe the old command took is made again after this...
PROBE_RETAKE_MAX = 0.1  # ... doubling up to this while the new one holds no copy of the socket
# How long the probe waits for the new process to hold its own copy of the listener (it is about
# to serve: the shim makes one before a Python server's first accept) before probing anyway (a
# server outside Python that serves on fd 3 itself makes none). Until then a probe would only
# be taken by the old process, then retaken with back-off: Django's runserver imports for ~1 s
# here, more on a loaded machine, and a gate of 0.2 s cost it up to PROBE_RETAKE_MAX per reload.
PROBE_GATE_WAIT = 3.0

# The warm-up request: an app child (WSGI or ASGI) runs one GET / through the app in-process
# before it says ready, so a fresh child's lazy set-up (Django's URLconf, Starlette's middleware
# stack, anyio's thread pool: 20-60 ms) is paid before the handover, not by the user's first
# request. Its answer is dropped; it waits at most WARM_UP_TIMEOUT.
WARM_UP_PATH = "/"
WARM_UP_USER_AGENT = "devbox-warm-up"
WARM_UP_TIMEOUT = 1.0


def touch_period(interval):
    """Seconds between the parent's touches of the lockfile, for `--interval interval`."""
    return max(float(interval), TOUCH_MIN_PERIOD)


def stale_after(interval):
    """Age after which the lockfile of a parent run with `--interval interval` means the parent
    is gone: it grows with the touch period, STALE_MARGIN above it."""
    return touch_period(interval) + STALE_MARGIN


# -- defaults of the command line ----------------------------------------------------------
DEFAULT_HOST = "0.0.0.0"
DEFAULT_PORT = 8000
LISTEN_MODE_FD = "fd"  # the supervisor binds the port and passes it as fd 3
LISTEN_MODE_SELF = "self"  # the command binds the port itself; the supervisor holds no socket
LISTEN_MODES = (LISTEN_MODE_FD, LISTEN_MODE_SELF)
# The supervisor's command line (python3 -m devbox.supervisor FLAG ... [-- COMMAND ...]).
FLAG_APP = "--app"
FLAG_PORT = "--port"
FLAG_HOST = "--host"
FLAG_LISTEN = "--listen"
FLAG_INTERVAL = "--interval"
FLAG_GRACE = "--grace"
FLAG_NO_WARM = "--no-warm"
FLAG_NO_OVERLAP = "--no-overlap"
FLAG_PRELOAD = "--preload"  # repeatable; each value a comma-separated list of modules
FLAG_PROJECT_DIR = "--project-dir"
FLAG_POLL_MODULES = "--poll-modules"
FLAG_STATUS_FILE = "--status-file"
FLAG_LOCK_FILE = "--lock-file"
# Fixed paths (not tempfile.gettempdir()): the host reads them inside the container, where the
# host's own temp dir means nothing.
DEFAULT_STATUS_FILE = "/tmp/devbox-supervisor.json"
DEFAULT_LOCK_FILE = "/tmp/devbox-supervisor-{pid}.lock"  # one per supervisor


def default_lock_file(pid):
    return DEFAULT_LOCK_FILE.format(pid=pid)


# -- the programs the host runs in the container ---------------------------------------------
INSTALL_ROOT = "/opt/devbox"  # the host copies this package to INSTALL_ROOT/devbox/supervisor
RECEIVER_MODULE = "devbox.supervisor.receiver"  # copy mode: applies batches sent on its stdin
REMOVE_MODULE = "devbox.supervisor.remove"  # copy mode: removes paths given as arguments
# First on sys.path while the program imports itself: a project may have its own `devbox`.
_BOOTSTRAP = "import sys; sys.path.insert(0, %r); %sfrom %s import main; sys.exit(main(sys.argv[1:]))"
# Before anything else is imported, in devbox's own app processes: see bytecode.private_caches.
# The prefix (from PYTHONPYCACHEPREFIX, which private_caches reads) is off while it imports
# itself, so that the caches shipped with the injected copy are found for these modules too.
PRIVATE_CACHES = ("import sys; sys.pycache_prefix = None; "
                  "from devbox.supervisor import bytecode; bytecode.private_caches(); ")


def bootstrap(root, module, first=""):
    """Python source (for -c) that runs `module`'s main(argv) from the copy under `root`, after
    the statements `first`."""
    return _BOOTSTRAP % (root, first, module)


def program_argv(module, args=(), root=INSTALL_ROOT, python="python3"):
    """The command line of an in-container program. -I -S: no site, no PYTHON* variables and
    no cwd on sys.path, so start-up costs a few milliseconds and the project cannot shadow us."""
    return [python, "-I", "-S", "-u", "-c", bootstrap(root, module)] + [str(a) for a in args]


# -- receiver requests: OP (5 bytes) + payload length (RECEIVER_LENGTH) + payload -------------
# It answers each with one line: RECEIVER_OK, or RECEIVER_ERROR + " Type: message".
RECEIVER_TAR = b"tar  "  # a tar of files to place under the workdir (names carry the workdir)
RECEIVER_RM = b"rm   "  # NUL-separated workdir-relative paths to remove
RECEIVER_PING = b"ping "  # nothing: proves the stream works
RECEIVER_OP_SIZE = 5
RECEIVER_LENGTH = ">Q"
RECEIVER_OK = "ok"
RECEIVER_ERROR = "error"


def receiver_request(op, payload):
    """The bytes of one receiver request."""
    import struct

    return op + struct.pack(RECEIVER_LENGTH, len(payload)) + payload


# -- status file ----------------------------------------------------------------------------
STATE_STARTING = "starting"
STATE_SERVING = "serving"
STATE_CRASHED = "crashed"
STATE_STOPPING = "stopping"

# -- child -> parent messages on the control socket, one line each --------------------------
MSG_READY = "ready"  # "ready": the app imported, the server accepts now
MSG_CRASHED = "crashed"  # "crashed {json report}": the app failed; the child serves the error page
MSG_RELOAD = "reload"  # "reload poll": a module changed (--poll-modules); the child keeps serving
MSG_STOPPED = "stopped"  # "stopped": the child no longer accepts; in-flight requests finish
# "modules a b.c ...": dependencies (not project code) the app imported, sent before ready or
# crashed when the child runs with --report-modules; the warm template imports them next.
MSG_MODULES = "modules"
# "setup django SETTINGS": the app set Django up from SETTINGS (sent after "modules", with
# --report-modules); the warm template runs that set-up once for every child (presetup.py).
MSG_SETUP = "setup"
# -- parent -> child ------------------------------------------------------------------------
MSG_STOP = "stop"  # stop accepting now, answer "stopped", finish in-flight requests, exit 0
MSG_GO = "go"  # to a standby child forked by the warm template: import the app and serve

# -- supervisor <-> warm template (a SOCK_SEQPACKET socket: one message per packet) -----------
# The template is a process that has imported the app's dependencies; it forks standby app
# children that wait for MSG_GO (see template.py).
TPL_PRELOAD = "preload"  # "preload a b": import these (the user's list; project code allowed)
TPL_IMPORT = "import"  # "import a b": import these (learned dependencies; no project code)
TPL_FORK = "fork"  # "fork N" + the child's control socket (SCM_RIGHTS): fork request N
TPL_FORKED = "forked"  # "forked N PID": the child waits for MSG_GO; the supervisor adopted it
TPL_STALE = "stale"  # "stale N PATH": PATH changed since it was imported; the template exits
# "resetup N PATH": PATH, read by the framework's set-up only, changed: the set-up runs again in a
# new layer of the template (template.SetupLayer), which answers fork request N.
TPL_RESETUP = "resetup"
TPL_FAILED = "failed"  # "failed N reason": fork() failed; the template exits
TPL_REJECT = "reject"  # "reject MOD reason": importing MOD made the template unfit; it exits
TPL_UNIMPORTABLE = "unimportable"  # "unimportable MOD summary": MOD raised on import; skipped
TPL_SETUP = "setup"  # "setup django SETTINGS": run the framework's set-up once (presetup.py)
# "setup-failed unsafe|error reason": the set-up left the template unfit (unsafe: never again) or
# raised (error: until a child reports it again); the template exits.
TPL_SETUP_FAILED = "setup-failed"
TPL_MAX_PACKET = 60000  # bytes per message; longer module lists are split

# -- events on the supervisor's stdout ------------------------------------------------------
LOG_PREFIX = "[devbox]"
EVENT_STARTED = "started"  # started pid=P python=3.x.y listen=fd|self address=H:P|none: app|command
EVENT_READY = "ready"  # ready generation=N pid=P ms=T
EVENT_RELOADING = "reloading"  # reloading generation=N reason=R  (N: the generation to come)
EVENT_CRASHED = "crashed"  # crashed generation=N status=S: one-line summary
EVENT_STOPPING = "stopping"  # stopping signal=SIGTERM
EVENT_STOPPED = "stopped"  # stopped ms=T
EVENTS = (EVENT_STARTED, EVENT_READY, EVENT_RELOADING, EVENT_CRASHED, EVENT_STOPPING,
          EVENT_STOPPED)
REASON_SIGHUP = "sighup"
REASON_EXIT3 = "exit3"
REASON_POLL = "poll"
# status=startup in a crashed event: the app failed to import and the child, still running,
# serves the error page. Otherwise status is the exit status (negative: killed by that signal).
STATUS_STARTUP = "startup"


def format_event(kind, message=None, **fields):
    """One event line: `[devbox] KIND key=value ...[: message]`, readable by people too.

    Values must be single words (no whitespace, not ending in ':'); free text goes in message.
    """
    parts = [LOG_PREFIX, kind]
    for key, value in fields.items():
        text = str(value)
        if not text or text.endswith(":") or any(ch.isspace() for ch in text):
            raise ValueError("event field %s=%r must be one word" % (key, text))
        parts.append("%s=%s" % (key, text))
    line = " ".join(parts)
    if message is not None:
        line += ": " + " ".join(str(message).split())
    return line


def parse_event(line):
    """(kind, fields) for an event line, else None. Integer values come back as int; the text
    after ': ' comes back as fields["message"]."""
    line = line.strip()
    if not line.startswith(LOG_PREFIX + " "):
        return None
    head, sep, message = line[len(LOG_PREFIX) + 1:].partition(": ")
    words = head.split()
    if not words or words[0] not in EVENTS:
        return None
    fields = {}
    for word in words[1:]:
        key, eq, value = word.partition("=")
        if not eq:
            return None
        fields[key] = _typed(value)
    if sep:
        fields["message"] = message
    return words[0], fields


def _typed(value):
    digits = value[1:] if value.startswith("-") else value
    return int(value) if digits.isdigit() else value


def format_address(host, port):
    """The address= field of the started event and the status file: H:P, [H6]:P or none."""
    if port is None:
        return "none"
    return "[%s]:%s" % (host, port) if ":" in host else "%s:%s" % (host, port)


def log_line(message):
    """A supervisor line that is not an event (parse_event returns None for it)."""
    return "%s %s" % (LOG_PREFIX, message)
