"""The app child: imports the app (appspec: a callable or a factory's result, adapted by
frameworks.py) and serves it on the socket the parent passed as fd 3 (or one it binds itself with
`--listen self`): a WSGI app with httpserver.py, one thread per connection; an ASGI app with the
uvicorn installed beside it (asgiserver.py). Either way it runs the warm-up request (warmup.py)
before it says ready.

Start-up is kept lean because it is most of a reload: no argparse, and the HTTP server is
devbox's own small one (httpserver.py), not wsgiref.simple_server.

Stopping never waits on a timer: SIGTERM, SIGINT, the parent's "stop" message and the parent's
death (EOF on the control socket, or a stale lockfile) all write to one pipe the accept loop
polls, so the loop leaves at once, says "stopped" and lets in-flight requests finish. A changed
module (--poll-modules) only asks the parent for a reload: this child serves until its
successor is ready.

`main()` runs in a fresh interpreter (spawn.ExecSpawner) or in a process forked from the warm
template (template.py), which has imported this module and the app's dependencies already.
"""

import os
import select
import signal
import socket
import sys
import threading

from devbox.supervisor import (appspec, asgiserver, bytecode, errorpage, frameworks, heartbeat,
                               presetup, project, protocol, warmup)
from devbox.supervisor.httpserver import Server
from devbox.supervisor.primitives import bind_listener, flush_and_exit, log, send_line

_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_CONTROL_TIMEOUT = 5.0  # a parent that reads nothing for this long is as good as gone
_FLAGS = ("--poll-modules", "--report-modules")


def main(argv=None, standby=None):
    """Run the child; returns the exit status (3 asks the parent for a reload).

    `standby(control)`, if given, runs once the child is set up and before it imports the app
    (the warm template's children wait there for their turn); it returns None to go on, or the
    status to exit with."""
    opts = _parse_args(sys.argv[1:] if argv is None else argv)
    _step_aside()
    interval = float(opts.get("--interval", protocol.DEFAULT_INTERVAL))
    grace = float(opts.get("--grace", protocol.DEFAULT_GRACE))
    host = opts.get("--host", protocol.DEFAULT_HOST)
    port = int(opts.get("--port", protocol.DEFAULT_PORT))
    stop = Stop()
    control = _control_socket()
    if standby is not None:
        code = standby(control)
        if code is not None:
            return flush_and_exit(code, run_atexit=True)
    monitor = Monitor(control, os.environ.get(protocol.ENV_LOCK_FILE), interval, stop,
                      polls_files="--poll-modules" in opts)
    monitor.start()
    listener = _listener(host, port)

    report_root = None
    if "--errorpage" in opts:
        import json

        app = errorpage.make_app(json.loads(opts["--errorpage"]))
        loaded = False
    else:
        if "--report-modules" in opts:
            report_root = os.path.abspath(opts.get("--project-dir") or os.getcwd())
        app, loaded = _load_or_report(opts["--app"], control, monitor,
                                      "--poll-modules" in opts, report_root)

    _handle_stop_signals(stop)
    ready = _Ready(control, report_root if loaded else None)
    if loaded and asgiserver.is_asgi(app):
        try:
            asgiserver.serve(app, listener, stop, ready,
                             lambda: send_line(control, protocol.MSG_STOPPED), grace)
            return flush_and_exit(stop.code, run_atexit=True)
        except asgiserver.StartupFailed as exc:
            app, loaded = _crashed(exc, control), False
    server = Server(listener, app, host, port, stop)
    if loaded and warmup.enabled():
        warmup.wsgi(app, server.server_name, server.server_port)
    ready()
    server.serve()
    send_line(control, protocol.MSG_STOPPED)  # the parent may now say its successor serves
    server.drain(timeout=grace if stop.orphaned else None)
    return flush_and_exit(stop.code, run_atexit=True)


def _step_aside():
    """Make the project's imports work as if we were not here: the cwd first on sys.path (so
    `--app examples.hello:app` imports from the project directory), and our package out of
    sys.path and sys.modules, so a project with its own `devbox` package imports that one. Our
    code keeps working: it holds its modules already."""
    if sys.path and sys.path[0] == _PACKAGE_ROOT:
        del sys.path[0]
    if sys.path and sys.path[0] in ("", os.curdir):
        sys.path[0] = os.getcwd()
    elif not sys.path or sys.path[0] != os.getcwd():  # twice in a forked child: once is enough
        sys.path.insert(0, os.getcwd())
    for name in [n for n in sys.modules if n == "devbox" or n.startswith("devbox.")]:
        del sys.modules[name]


class _Ready:
    """Says ready; first, with a `report_root`, reports the dependencies imported since the app
    was (the server's and the warm-up request's: Starlette's and Django's lazy imports at the
    first request), so the warm template imports them for the next child too."""

    def __init__(self, control, report_root):
        self.control = control
        self.report_root = report_root
        self.before = set(sys.modules)

    def __call__(self):
        if self.report_root is not None:
            added = project.dependencies([n for n in list(sys.modules) if n not in self.before],
                                         self.report_root)
            if added:
                send_line(self.control, "%s %s" % (protocol.MSG_MODULES, " ".join(added)))
        send_line(self.control, protocol.MSG_READY)


def _load_or_report(spec, control, monitor, poll_modules, report_root=None):
    """Import the app: (app, True). If that fails, tell the parent, print the traceback and
    return (the error page app, False) instead: the child stays up so every request shows what
    is wrong.

    With `report_root`, first tell the parent which dependencies (modules outside that project
    directory) the import added, so its warm template imports them for the next child."""
    bytecode.private_caches(*(r for r in (report_root, os.getcwd()) if r))
    before = set(sys.modules)
    failure = None
    try:
        app = load_app(spec)
        extra = ()
        if asgiserver.is_asgi(app):
            asgiserver.import_server()  # counted below: the warm template imports it once
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure is shown, not raised
        failure = exc
    if report_root is not None:
        added = project.dependencies([n for n in list(sys.modules) if n not in before],
                                     report_root)
        if added:
            send_line(control, "%s %s" % (protocol.MSG_MODULES, " ".join(added)))
        setup = presetup.learned() if failure is None else None
        if setup is not None:
            send_line(control, "%s %s" % (protocol.MSG_SETUP, setup))
            if presetup.mismatched():  # set up from other settings: a new template, then us
                flush_and_exit(protocol.RELOAD_EXIT_CODE)
    if failure is not None:
        app = _crashed(failure, control)
        extra = _traceback_files(failure)
    if poll_modules:
        monitor.watch(_module_files() | set(extra))
    return app, failure is None


def _crashed(failure, control):
    """Tell the parent the app cannot run and why; the error page app to serve meanwhile."""
    import json

    report = errorpage.report_from_exception(failure)
    if isinstance(failure, (asgiserver.NoServer, asgiserver.StartupFailed)):
        # What to do is the whole story: where devbox raised it is no help.
        report.update(title=str(failure), summary=str(failure), location="", detail="",
                      project_traceback="", traceback=str(failure))
    sys.stderr.write(report["traceback"] + "\n")
    send_line(control, "%s %s" % (protocol.MSG_CRASHED, json.dumps(report)))
    return errorpage.make_app(report)


def load_app(spec):
    """What `app:` names (appspec: `module:attr.path` or a factory call; called here, in each
    child), as the framework's development server would serve it."""
    return frameworks.adapt(appspec.load(spec))


class Stop:
    """One stop request, from a signal handler or any thread; wakes every poll on `fd`."""

    def __init__(self):
        self.fd, self._w = os.pipe()
        os.set_blocking(self._w, False)
        self.requested = False
        self.orphaned = False
        self.code = 0

    def request(self, code=0, orphaned=False):
        if not self.requested:
            self.code, self.orphaned = code, orphaned
            self.requested = True
        try:
            os.write(self._w, b"x")
        except OSError:
            pass  # pipe full: it is readable anyway


def _handle_stop_signals(stop):
    """SIGTERM/SIGINT stop the server gracefully, unless the app installed its own handlers.
    Installed after the app import: until then the default (die at once) is what we want."""
    def handler(signum, frame):
        stop.request(0)

    for signum in (signal.SIGTERM, signal.SIGINT):
        if signal.getsignal(signum) in (signal.SIG_DFL, signal.SIG_IGN,
                                        signal.default_int_handler):
            signal.signal(signum, handler)


class Monitor(threading.Thread):
    """Watches for reasons to stop: the parent's death and, with --poll-modules, changed files.

    It wakes every `interval` only when it has to poll (see timeout()): with a control socket
    the parent's death is EOF on it, so at rest it sleeps with no timeout at all."""

    def __init__(self, control, lock_file, interval, stop, polls_files=False):
        threading.Thread.__init__(self, name="devbox-monitor", daemon=True)
        self.control = control
        self.lock_file = lock_file
        self.interval = interval
        self.stop = stop
        self.polls_files = polls_files
        self._files = {}

    def timeout(self):
        """Milliseconds of each poll: the interval when files or the lockfile must be looked
        at, None (no timeout) when the control socket tells all."""
        if self.polls_files or (self.control is None and self.lock_file):
            return self.interval * 1000
        return None

    def watch(self, paths):
        self._files = {path: file_signature(path) for path in paths}

    def run(self):
        poller = select.poll()
        if self.control is not None:
            poller.register(self.control, select.POLLIN)
        poller.register(self.stop.fd, select.POLLIN)
        control_fd = self.control.fileno() if self.control is not None else None
        buffered = b""
        while not self.stop.requested:
            events = poller.poll(self.timeout())
            if any(fd == control_fd for fd, _ in events):
                try:
                    data = self.control.recv(4096)
                except socket.timeout:
                    data = None
                except OSError:
                    data = b""
                if data == b"":
                    return self._orphaned("the supervisor is gone (control socket closed)")
                buffered += data or b""
                *lines, buffered = buffered.split(b"\n")
                if protocol.MSG_STOP.encode() in lines:
                    self.stop.request(0)  # a successor serves: stop accepting, finish, exit 0
                    return None
            if self.lock_file and heartbeat.is_stale(self.lock_file, self.interval):
                return self._orphaned("the supervisor is gone (lockfile %s is stale)"
                                      % self.lock_file)
            changed = self._changed()
            if changed:
                log("%s changed, reloading" % changed)
                self._files = {}  # one request is enough
                if self.control is None:  # nobody to ask: Bottle's convention, exit 3
                    self.stop.request(protocol.RELOAD_EXIT_CODE)
                    return None
                send_line(self.control, "%s %s" % (protocol.MSG_RELOAD, protocol.REASON_POLL))
        return None

    def _orphaned(self, why):
        log(why + "; exiting")
        self.stop.request(0, orphaned=True)

    def _changed(self):
        for path, before in list(self._files.items()):
            if file_signature(path) != before:
                return path
        return None


def file_signature(path):
    """What a save changes: mtime (ns), size, and inode (editors that save by rename)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _module_files():
    files = set()
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not isinstance(path, str):
            continue
        if path.endswith((".pyc", ".pyo")):
            path = path[:-1]
        if os.path.isfile(path):
            files.add(path)
    return files


def _traceback_files(exc):
    """Files to watch after a failed import: the broken file is not in sys.modules."""
    files = set()
    if isinstance(exc, SyntaxError) and exc.filename:
        files.add(exc.filename)
    tb = exc.__traceback__
    while tb is not None:
        files.add(tb.tb_frame.f_code.co_filename)
        tb = tb.tb_next
    return {path for path in files if os.path.isfile(path)}


def _listener(host, port):
    """The inherited socket (fd from DEVBOX_LISTEN_FD), or one bound here (listen self)."""
    fd = os.environ.get(protocol.ENV_LISTEN_FD)
    if fd:
        sock = socket.socket(fileno=int(fd))
        sock.set_inheritable(False)  # the app's own subprocesses must not hold the port
    else:
        # The previous owner's processes may still be exiting: try for ~2 s.
        sock = bind_listener(host, port, backlog=128, attempts=40)
    sock.setblocking(False)
    return sock


def _control_socket():
    fd = os.environ.get(protocol.ENV_CONTROL_FD)
    if not fd:
        return None
    try:
        sock = socket.socket(fileno=int(fd))
    except OSError:
        return None
    sock.set_inheritable(False)
    sock.settimeout(_CONTROL_TIMEOUT)
    return sock


def _parse_args(argv):
    """--key value pairs and the flags in _FLAGS: the parent writes this command line."""
    opts = {}
    args = iter(argv)
    for arg in args:
        if arg in _FLAGS:
            opts[arg] = True
        elif arg.startswith("--"):
            try:
                opts[arg] = next(args)
            except StopIteration:
                raise SystemExit("devbox child: %s needs a value" % arg) from None
        else:
            raise SystemExit("devbox child: unexpected argument %r" % arg)
    if "--app" not in opts and "--errorpage" not in opts:
        raise SystemExit("devbox child: --app or --errorpage is required")
    return opts


if __name__ == "__main__":
    sys.exit(main())
