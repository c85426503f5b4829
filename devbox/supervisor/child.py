"""The wsgiref child: imports the app and serves it, one thread per connection, on the socket the
parent passed as fd 3 (or one it binds itself with `--listen self`).

Start-up is kept lean because it is most of a reload: no wsgiref.simple_server (http.server
pulls in http.client, ssl and email: ~50 ms here), no argparse, no DNS lookup. The request line
and headers are parsed here; wsgiref.handlers runs the app.

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
import time
from wsgiref.handlers import SimpleHandler

from devbox.supervisor import bytecode, errorpage, heartbeat, project, protocol

_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_IO_TIMEOUT = 60.0  # seconds a started request may stall reading or writing
_MAX_LINE = 65536
_MAX_HEADERS = 100
_DRAIN_LIMIT = 1 << 20  # unread request body read and dropped after the reply, so close is clean
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
            return _exit(code)
    monitor = Monitor(control, os.environ.get(protocol.ENV_LOCK_FILE), interval, stop)
    monitor.start()
    listener = _listener(host, port)

    if "--errorpage" in opts:
        import json

        app = errorpage.make_app(json.loads(opts["--errorpage"]))
    else:
        report_root = None
        if "--report-modules" in opts:
            report_root = os.path.abspath(opts.get("--project-dir") or os.getcwd())
        app = _load_or_report(opts["--app"], control, monitor, "--poll-modules" in opts,
                              report_root)

    _handle_stop_signals(stop)
    server = Server(listener, app, host, port, stop)
    _send(control, protocol.MSG_READY)
    server.serve()
    _send(control, protocol.MSG_STOPPED)  # the parent may now say its successor serves
    server.drain(timeout=grace if stop.orphaned else None)
    return _exit(stop.code)


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


def _load_or_report(spec, control, monitor, poll_modules, report_root=None):
    """Import the app. If that fails, tell the parent, print the traceback and return the error
    page app instead: the child stays up so every request shows what is wrong.

    With `report_root`, first tell the parent which dependencies (modules outside that project
    directory) the import added, so its warm template imports them for the next child."""
    bytecode.avoid_racy_bytecode()
    before = set(sys.modules)
    failure = None
    try:
        app = load_app(spec)
        extra = ()
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure is shown, not raised
        failure = exc
    if report_root is not None:
        added = project.dependencies([n for n in list(sys.modules) if n not in before],
                                     report_root)
        if added:
            _send(control, "%s %s" % (protocol.MSG_MODULES, " ".join(added)))
    if failure is not None:
        import json

        report = errorpage.report_from_exception(failure)
        sys.stderr.write(report["traceback"] + "\n")
        _send(control, "%s %s" % (protocol.MSG_CRASHED, json.dumps(report)))
        app = errorpage.make_app(report)
        extra = _traceback_files(failure)
    if poll_modules:
        monitor.watch(_module_files() | set(extra))
    return app


def load_app(spec):
    """`package.module:attr.path` -> the object (attr defaults to `app`)."""
    module_name, _, attr = spec.partition(":")
    __import__(module_name)
    obj = sys.modules[module_name]
    for part in (attr or "app").split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError("%s is not callable (got %s)" % (spec, type(obj).__name__))
    return obj


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
    """Watches for reasons to stop: the parent's death and, with --poll-modules, changed files."""

    def __init__(self, control, lock_file, interval, stop):
        threading.Thread.__init__(self, name="devbox-monitor", daemon=True)
        self.control = control
        self.lock_file = lock_file
        self.interval = interval
        self.stop = stop
        self._files = {}

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
            events = poller.poll(self.interval * 1000)
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
                _log("%s changed, reloading" % changed)
                self._files = {}  # one request is enough
                if self.control is None:  # nobody to ask: Bottle's convention, exit 3
                    self.stop.request(protocol.RELOAD_EXIT_CODE)
                    return None
                _send(self.control, "%s %s" % (protocol.MSG_RELOAD, protocol.REASON_POLL))
        return None

    def _orphaned(self, why):
        _log(why + "; exiting")
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


class Server:
    """Accept loop on a non-blocking listening socket shared with other processes, one thread per
    connection, and a drain that waits for in-flight requests."""

    def __init__(self, listener, app, host, port, stop):
        self.listener = listener
        self.app = app
        self.stop = stop
        self.server_name = "localhost" if host in ("", "0.0.0.0", "::") else host
        self.server_port = str(port)
        self._active = 0
        self._idle = threading.Condition()

    def serve(self):
        """Accept until a stop is requested, then stop accepting at once."""
        poller = select.poll()
        poller.register(self.listener, select.POLLIN)
        poller.register(self.stop.fd, select.POLLIN)
        while not self.stop.requested:
            poller.poll()
            if not self.stop.requested:
                self._accept()
        # Our copy only: the parent and the next child keep the socket and its backlog.
        self.listener.close()

    def _accept(self):
        try:
            conn, addr = self.listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return  # another process took it
        except OSError as exc:  # out of fds or memory: back off instead of spinning
            _log("accept failed: %s" % exc)
            time.sleep(0.05)
            return
        with self._idle:
            self._active += 1
        threading.Thread(target=self._connection, args=(conn, addr), daemon=True).start()

    def drain(self, timeout=None):
        """Wait for in-flight requests (all of them, or until `timeout`)."""
        with self._idle:
            self._idle.wait_for(lambda: self._active == 0, timeout)

    def _connection(self, conn, addr):
        try:
            if _request_arrives(conn, self.stop.fd):
                conn.settimeout(_IO_TIMEOUT)
                self._serve_request(conn, addr)
        except OSError:
            pass  # the client went away
        finally:
            conn.close()
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def _serve_request(self, conn, addr):
        rfile = conn.makefile("rb")
        wfile = conn.makefile("wb")
        try:
            try:
                request = _read_request(rfile)
            except _BadRequest as exc:
                wfile.write(("HTTP/1.0 %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                             % exc).encode("latin-1"))
                wfile.flush()
                return
            if request is None:
                return
            started = time.perf_counter()
            environ = self._environ(request, addr)
            body = _Body(rfile, _content_length(environ))
            if environ.get("HTTP_EXPECT", "").lower() == "100-continue" and body.remaining:
                wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                wfile.flush()
            gateway = _Gateway(body, wfile, sys.stderr, environ, multithread=True,
                               multiprocess=False)
            gateway.run(self.app)
            wfile.flush()
            body.discard(_DRAIN_LIMIT)
            _access_log(request, gateway.final_status, started)
            conn.shutdown(socket.SHUT_WR)
        finally:
            rfile.close()
            wfile.close()

    def _environ(self, request, addr):
        method, target, version, headers = request
        if "://" in target:  # absolute form: keep the path
            target = "/" + target.split("://", 1)[1].partition("/")[2]
        path, _, query = target.partition("?")
        environ = {
            "REQUEST_METHOD": method,
            "SCRIPT_NAME": "",
            "PATH_INFO": _unquote(path),
            "QUERY_STRING": query,
            "SERVER_NAME": self.server_name,
            "SERVER_PORT": self.server_port,
            "SERVER_PROTOCOL": version,
            "REMOTE_ADDR": addr[0] if isinstance(addr, tuple) else "",
            "CONTENT_TYPE": "text/plain",
        }
        for name, value in headers:
            if "_" in name:
                continue  # as wsgiref: X_Foo must not pass for X-Foo
            key = name.upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
                if key in environ:
                    value = environ[key] + "," + value
            environ[key] = value
        return environ


class _Gateway(SimpleHandler):
    server_software = "devbox"
    final_status = None

    def close(self):
        self.final_status = self.status  # wsgiref forgets it on close
        SimpleHandler.close(self)

    def error_output(self, environ, start_response):
        """A request that raised gets the devbox error page (wsgiref logs the traceback too)."""
        exc_info = sys.exc_info()
        body = errorpage.render(
            errorpage.report_from_exception(exc_info[1], hint=errorpage.HINT_REQUEST))
        start_response("500 Internal Server Error",
                       [("Content-Type", "text/html; charset=utf-8"),
                        ("Content-Length", str(len(body)))], exc_info)
        return [body]


class _BadRequest(Exception):
    pass


def _request_arrives(conn, stop_fd):
    """Wait for the first byte of a request. An idle connection (a browser opens spare ones) is
    closed after IDLE_TIMEOUT, or STOP_IDLE_TIMEOUT after the server stops, so it does not hold
    a stopping child open. Not at once: a client connects first and sends a moment later."""
    poller = select.poll()
    poller.register(conn, select.POLLIN)
    poller.register(stop_fd, select.POLLIN)
    deadline = time.monotonic() + protocol.IDLE_TIMEOUT
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        events = poller.poll(left * 1000)
        if any(fd == conn.fileno() for fd, _ in events):
            return True
        if events:  # the stop pipe: from now on it is always readable
            poller.unregister(stop_fd)
            deadline = min(deadline, time.monotonic() + protocol.STOP_IDLE_TIMEOUT)


def _read_request(rfile):
    """(method, target, version, [(name, value)]), or None if the client sent nothing."""
    line = rfile.readline(_MAX_LINE + 1)
    if not line:
        return None
    if len(line) > _MAX_LINE:
        raise _BadRequest("414 URI Too Long")
    words = line.decode("latin-1").split()
    if len(words) != 3 or not words[2].startswith("HTTP/"):
        raise _BadRequest("400 Bad Request")
    headers = []
    while True:
        line = rfile.readline(_MAX_LINE + 1)
        if len(line) > _MAX_LINE or len(headers) > _MAX_HEADERS:
            raise _BadRequest("431 Request Header Fields Too Large")
        if line in (b"\r\n", b"\n", b""):
            break
        text = line.decode("latin-1").rstrip("\r\n")
        if text[:1] in (" ", "\t") and headers:  # obsolete line folding
            name, value = headers.pop()
            headers.append((name, value + " " + text.strip()))
            continue
        name, sep, value = text.partition(":")
        if not sep or not name.strip():
            raise _BadRequest("400 Bad Request")
        headers.append((name.strip(), value.strip()))
    return words[0], words[1], words[2], headers


def _content_length(environ):
    try:
        return max(0, int(environ.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


class _Body:
    """wsgi.input: never reads past Content-Length (a bare read() would wait for EOF forever)."""

    def __init__(self, rfile, length):
        self._rfile = rfile
        self.remaining = length

    def read(self, size=-1):
        return self._take(self._rfile.read, size)

    def readline(self, size=-1):
        return self._take(self._rfile.readline, size)

    def _take(self, reader, size):
        """At most `size` bytes (all that remain when None/negative), never past the body."""
        if size is None or size < 0 or size > self.remaining:
            size = self.remaining
        data = reader(size) if size else b""
        self.remaining -= len(data)
        return data

    def readlines(self, hint=-1):
        return list(self)

    def __iter__(self):
        line = self.readline()
        while line:
            yield line
            line = self.readline()

    def discard(self, limit):
        while 0 < self.remaining <= limit and self.read(min(self.remaining, 65536)):
            pass


_HEX = set(b"0123456789abcdefABCDEF")


def _unquote(path):
    """Percent-decoding to a latin-1 str, as PEP 3333 (and wsgiref) want PATH_INFO."""
    if "%" not in path:
        return path
    first, *rest = path.encode("latin-1", "replace").split(b"%")
    out = bytearray(first)
    for part in rest:
        if len(part) >= 2 and part[0] in _HEX and part[1] in _HEX:
            out.append(int(part[:2], 16))
            out += part[2:]
        else:
            out += b"%" + part
    return out.decode("latin-1")


def _access_log(request, status, started):
    code = (status or "-").split(" ", 1)[0]
    ms = (time.perf_counter() - started) * 1000
    sys.stderr.write("%s %s %s %.1f ms\n" % (request[0], request[1], code, ms))


def _listener(host, port):
    """The inherited socket (fd from DEVBOX_LISTEN_FD), or one bound here (listen self)."""
    fd = os.environ.get(protocol.ENV_LISTEN_FD)
    if fd:
        sock = socket.socket(fileno=int(fd))
        sock.set_inheritable(False)  # the app's own subprocesses must not hold the port
    else:
        sock = _bind(host, port)
    sock.setblocking(False)
    return sock


def _bind(host, port, attempts=40):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for attempt in range(attempts):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            if attempt == attempts - 1:
                raise
            time.sleep(0.05)  # the previous owner's processes are still exiting
            continue
        sock.listen(128)
        return sock
    raise AssertionError("unreachable")


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


def _send(control, message):
    if control is None:
        return
    try:
        control.sendall(message.encode("utf-8") + b"\n")
    except OSError:
        pass  # the parent is gone; the monitor will notice


def _log(message):
    sys.stderr.write(protocol.log_line(message) + "\n")
    sys.stderr.flush()


def _exit(code):
    """Leave now, even if the app left non-daemon threads running (they would hold the reload
    or the stop for the whole grace period); atexit handlers still run."""
    import atexit

    run = getattr(atexit, "_run_exitfuncs", None)
    if run is not None:
        run()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


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
                raise SystemExit("devbox child: %s needs a value" % arg)
        else:
            raise SystemExit("devbox child: unexpected argument %r" % arg)
    if "--app" not in opts and "--errorpage" not in opts:
        raise SystemExit("devbox child: --app or --errorpage is required")
    return opts


if __name__ == "__main__":
    sys.exit(main())
