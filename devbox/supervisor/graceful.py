"""In a command child (through the sitecustomize shim): socketserver-based servers (Django's
runserver, werkzeug's `flask run`, wsgiref, Bottle's default server, http.server) stop
gracefully. Their own stop is abrupt: SIGTERM kills the process, and with it the requests its
threads were answering; Bottle's reloader interrupts the main thread wherever it is. The
supervisor stops the old process only once the new one serves on the shared socket, so what
stopping must do is:

- accept nothing more: the serve loop leaves before its next accept (the new process takes the
  connections that come);
  socketserver's loop waits for its next connection up to a poll interval (0.5 s in werkzeug's
  and Django's servers): it watches our wake fd too, so it leaves at once;
- let the requests in flight finish, up to protocol.SHIM_DRAIN_TIMEOUT;
- close the keep-alive connections that wait for their next request (a request already sent on
  one is answered first);
- then do what the signal would have done: the program's own SIGTERM handler (Django's
  runserver exits through it), else the default (the process dies by SIGTERM); Bottle's
  `interrupt_main` gets its KeyboardInterrupt (and so exits 3, its "reload me");
- and when the process leaves while servers still serve on other threads (Django's and
  werkzeug's own reloaders exit 3 from the main thread on a change, and their server threads are
  daemons that exit cuts off mid-request), an atexit hook stops and drains them first.

A signal handler runs on the main thread: when a server loop runs there too (flask run,
Bottle), the handler only asks it to stop and the loop drains and delivers the signal once it
is out; otherwise (runserver serves on a thread) the handler waits for the loops and requests of
the other threads itself. A process with no server running gets the signal as it would have.

asyncio servers (uvicorn) get their own stop: uvicorn looks at its exit flag every 0.1 s and
keeps accepting until then, beside the new process. On the stop signal, every asyncio server
that serves stops accepting at once (Server.close on its loop's next turn, so nothing is cut off
mid-callback), and the program's own handler runs protocol.SHIM_ASYNC_STOP_DELAY later: its
graceful exit finishes the requests in flight and closes the keep-alive connections, by then
without a request that was already on its way on one of them. asyncio is not imported for it:
its Server class is patched when the program imports it.

Loaded by the shim by its path (it imports nothing of devbox). Standard library only.
"""

import _thread
import atexit
import importlib.util
import os
import select
import signal
import socket
import socketserver
import sys
import threading
import time
import weakref

_STOP = signal.SIGTERM


class _State:
    """What the patches share: who serves where, what is in flight, whether we stop."""

    def __init__(self, drain_timeout, async_stop_delay):
        self.drain_timeout = drain_timeout
        self.async_stop_delay = async_stop_delay
        self.async_servers = weakref.WeakSet()  # asyncio.Server objects made in this process
        self.lock = threading.Condition()
        self.loops = {}  # server -> ident of the thread in its serve_forever
        self.inflight = {}  # server -> set of accepted requests not closed yet
        self.stopping = False
        self.deferred = None  # what to do once the main thread's loop has drained
        self.program = signal.getsignal(_STOP)  # the handler the program believes is installed
        self.real_signal = signal.signal
        self.wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)

    def stop(self):
        with self.lock:
            self.stopping = True
            for server in self.loops:
                server._BaseServer__shutdown_request = True  # serve_forever's own exit flag
        try:
            os.write(self._wake_w, b"x")  # stays readable: every keep-alive wait sees it
        except OSError:
            pass

    def main_thread_serves(self):
        main = threading.main_thread().ident
        with self.lock:
            return any(ident == main for ident in self.loops.values())

    def drain(self):
        """Wait until the servers not looping on this thread have left their loop and closed
        their requests, or drain_timeout."""
        me = threading.get_ident()
        deadline = time.monotonic() + self.drain_timeout

        def busy():
            for server, requests in self.inflight.items():
                if self.loops.get(server) == me:
                    continue
                if requests or server in self.loops:
                    return True
            return False

        with self.lock:
            while busy():
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self.lock.wait(left)


_state = None


def install(drain_timeout, async_stop_delay):
    """Patch socketserver, asyncio's servers once imported (and SIGTERM, Bottle's
    interrupt_main) for graceful stops. Only from the main thread, before the program runs (the
    shim does). Returns an fd that becomes readable when the process stops (and stays so)."""
    global _state
    _state = _State(drain_timeout, async_stop_delay)
    _patch_servers()
    sys.meta_path.insert(0, _AfterImport(_ASYNCIO_SERVERS, _patch_async_servers))
    _patch_signals()
    _patch_interrupt_main()
    atexit.register(_at_exit)
    return _state.wake_r


def _at_exit():
    """Servers looping on other threads stop and drain before the interpreter goes (atexit runs
    while daemon threads still do)."""
    with _state.lock:
        serving = bool(_state.loops) or any(_state.inflight.values())
    if serving:
        _state.stop()
        _state.drain()


def _patch_servers():
    base, tcp = socketserver.BaseServer, socketserver.TCPServer
    serve_forever, handle_noblock = base.serve_forever, base._handle_request_noblock
    get_request, close_request = tcp.get_request, tcp.close_request

    def graceful_serve_forever(self, *args, **kwargs):
        _patch_handler(getattr(self, "RequestHandlerClass", None))
        with _state.lock:
            _state.loops[self] = threading.get_ident()
            _state.inflight.setdefault(self, set())
            if _state.stopping:
                self._BaseServer__shutdown_request = True
        try:
            serve_forever(self, *args, **kwargs)
        finally:
            with _state.lock:
                _state.loops.pop(self, None)
                _state.lock.notify_all()
        if _state.stopping and threading.current_thread() is threading.main_thread():
            _state.drain()  # its requests, and the other threads' loops and requests
            deferred, _state.deferred = _state.deferred, None
            if deferred is not None:
                deferred()

    def no_accept_when_stopping(self):
        if _state.stopping:
            return None
        return handle_noblock(self)

    def counted_get_request(self):
        request = get_request(self)
        with _state.lock:
            _state.inflight.setdefault(self, set()).add(request[0])
        return request

    def counted_close_request(self, request):
        try:
            close_request(self, request)
        finally:
            with _state.lock:
                requests = _state.inflight.get(self)
                if requests is not None and request in requests:
                    requests.discard(request)
                    if not requests and self not in _state.loops:
                        del _state.inflight[self]
                    _state.lock.notify_all()

    class WakingSelector(socketserver._ServerSelector):
        """serve_forever's selector, also woken by the stop."""

        def register(self, fileobj, events, data=None):
            key = super().register(fileobj, events, data)
            if _state.wake_r not in self.get_map():
                super().register(_state.wake_r, events)
            return key

    socketserver._ServerSelector = WakingSelector
    base.serve_forever = graceful_serve_forever
    base._handle_request_noblock = no_accept_when_stopping
    tcp.get_request = counted_get_request
    tcp.close_request = counted_close_request


def _patch_handler(handler_class):
    """Keep-alive: before reading a connection's next request, wait for it or for the stop;
    on the stop, a connection with nothing sent is closed. The class's own handle_one_request
    is wrapped (Django's overrides http.server's)."""
    one = getattr(handler_class, "handle_one_request", None)
    if one is None or getattr(one, "_devbox_graceful", False):
        return

    def handle_one_request(self):
        if getattr(self, "_devbox_answered", False) and not _next_request(self):
            self.close_connection = True
            return None
        self._devbox_answered = True
        return one(self)

    handle_one_request._devbox_graceful = True
    handler_class.handle_one_request = handle_one_request


def _next_request(handler):
    """True when the keep-alive connection of `handler` has (or gets) a request to answer, False
    when the stop came first. Bytes already buffered count (a pipelined request)."""
    conn = getattr(handler, "connection", None)
    if conn is None or conn.fileno() < 0:
        return True
    if _buffered(handler, conn):
        return True
    timeout = conn.gettimeout()
    ready, _, _ = select.select([conn, _state.wake_r], [], [], timeout)
    if conn in ready or not ready:  # a request, EOF, or the handler's own timeout: its to read
        return True
    return _buffered(handler, conn)


def _buffered(handler, conn):
    """Whether a request's first bytes are there, without waiting for them."""
    rfile = getattr(handler, "rfile", None)
    timeout = conn.gettimeout()
    try:
        conn.setblocking(False)
        if rfile is not None and hasattr(rfile, "peek"):
            return bool(rfile.peek(1))
        return bool(conn.recv(1, socket.MSG_PEEK))
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True  # a broken connection: reading it says so
    finally:
        try:
            conn.settimeout(timeout)
        except OSError:
            pass


def _patch_signals():
    """Our handler on SIGTERM while the program's stays what it asked for: signal.signal and
    getsignal see (and set) the program's, which ours calls once the servers have drained."""
    real_signal, real_getsignal = _state.real_signal, signal.getsignal
    if real_getsignal(_STOP) is not signal.SIG_DFL:
        return  # our caller ignores SIGTERM, or handles it: leave it be

    def program_signal(signum, handler):
        if signum != _STOP:
            return real_signal(signum, handler)
        if threading.current_thread() is not threading.main_thread():
            return real_signal(signum, handler)  # raises ValueError, as it would have
        previous, _state.program = _state.program, handler
        return previous

    def program_getsignal(signum):
        return _state.program if signum == _STOP else real_getsignal(signum)

    real_signal(_STOP, _on_stop)
    signal.signal, signal.getsignal = program_signal, program_getsignal


def _on_stop(signum, frame):
    program = _state.program
    if program is signal.SIG_IGN:
        return
    loop = _stop_async_servers()
    if loop is not None:
        if not callable(program):
            _state.real_signal(signum, signal.SIG_DFL)  # here: only the main thread may
        try:
            loop.call_soon_threadsafe(loop.call_later, _state.async_stop_delay, _deliver_later,
                                      program, signum)
        except RuntimeError:  # its loop closed meanwhile
            _deliver_later(program, signum)
        return None
    with _state.lock:
        serving = bool(_state.loops)
    if not serving:
        return _deliver(program, signum, frame)
    _state.stop()
    if _state.main_thread_serves():
        _state.deferred = lambda: _deliver(program, signum, None)
        return None  # that loop is under this frame: it drains and delivers once out
    _state.drain()
    return _deliver(program, signum, frame)


def _deliver(program, signum, frame):
    """What the signal would have done without us."""
    if callable(program):
        return program(signum, frame)
    _state.real_signal(signum, signal.SIG_DFL)
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signum)
    return None


def _deliver_later(program, signum):
    """The program's own stop, after SHIM_ASYNC_STOP_DELAY, on the server's loop (uvicorn's
    handler only sets its exit flag; a default disposition is restored already)."""
    if callable(program):
        program(signum, None)
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signum)


_ASYNCIO_SERVERS = "asyncio.base_events"  # where asyncio.Server is defined


class _AfterImport:
    """A sys.meta_path finder that lets the usual finders find module `name` and calls
    `then(module)` once it has been executed; once only."""

    def __init__(self, name, then):
        self.name, self.then = name, then

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module, then = spec.loader.exec_module, self.then

        def exec_then(module):
            exec_module(module)
            then(module)

        spec.loader.exec_module = exec_then
        return spec


def _patch_async_servers(base_events):
    """Remember every asyncio.Server made in this process (uvicorn's, hypercorn's)."""
    server = getattr(base_events, "Server", None)
    init = getattr(server, "__init__", None)
    if init is None:
        return

    def remembered_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        _state.async_servers.add(self)

    server.__init__ = remembered_init


def _stop_async_servers():
    """Have every asyncio server that serves stop accepting, on its loop's next turn (asyncio's
    own signal handling schedules from a handler the same way: nothing is cut off halfway).
    Returns the loop of one of them, or None when none serves."""
    serving = []
    for server in list(_state.async_servers):
        try:
            if server.is_serving():
                serving.append(server)
        except Exception:  # noqa: BLE001 - a version whose Server differs: leave it be
            continue
    loop = None
    for server in serving:
        try:
            server.get_loop().call_soon_threadsafe(server.close)
        except RuntimeError:  # its loop is closed
            continue
        loop = server.get_loop()
    return loop


def _patch_interrupt_main():
    """Bottle's reloader (FileCheckerThread) stops its server with _thread.interrupt_main(): a
    KeyboardInterrupt wherever the main thread is, the middle of a request included. While a
    server loop runs on the main thread, that loop is stopped gracefully instead and the
    KeyboardInterrupt raised once it has drained."""
    real = _thread.interrupt_main

    def interrupt_main(*args):
        if not _state.main_thread_serves():
            return real(*args)
        _state.deferred = _raise_interrupt
        _state.stop()
        return None

    _thread.interrupt_main = interrupt_main


def _raise_interrupt():
    raise KeyboardInterrupt
