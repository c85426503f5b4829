"""The HTTP/1.x server and WSGI gateway the wsgiref child serves with: an accept loop on a
listening socket shared with other processes, one thread per connection, and a drain that waits
for in-flight requests.

Kept lean because starting it is part of every reload: no wsgiref.simple_server (http.server
pulls in http.client, ssl and email: ~50 ms here), no DNS lookup. The request line and headers
are parsed here; wsgiref.handlers runs the app. Each connection serves one request and is closed
after it (read the request first, then shutdown(SHUT_WR): replying before reading and then
closing can reset the connection).
"""

import select
import socket
import sys
import threading
import time
from wsgiref.handlers import SimpleHandler

from devbox.supervisor import errorpage, protocol
from devbox.supervisor.primitives import log, served_name

_IO_TIMEOUT = 60.0  # seconds a started request may stall reading or writing
_MAX_LINE = 65536
_MAX_HEADERS = 100
_DRAIN_LIMIT = 1 << 20  # unread request body read and dropped after the reply, so close is clean


class Server:
    """Accept loop on a non-blocking listening socket shared with other processes, one thread per
    connection, and a drain that waits for in-flight requests."""

    def __init__(self, listener, app, host, port, stop):
        self.listener = listener
        self.app = app
        self.stop = stop
        self.server_name = served_name(host)
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
            log("accept failed: %s" % exc)
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
