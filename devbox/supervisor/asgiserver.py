"""ASGI apps in the app child: told apart from WSGI apps by their shape, served on the inherited
socket by the uvicorn installed where the app runs, with lifespan startup and shutdown in each
child (each child is its own process, so each runs its own lifespan).

uvicorn is imported lazily (this package is standard library only) and right after the app, so
the child reports its modules as dependencies and the warm template imports them once (~40 ms a
child otherwise). Only uvicorn's documented pieces are used (Config, Server.startup/shutdown,
Server.servers); its accept loop serves. What devbox adds is the handover: "ready" once uvicorn
accepts and the warm-up request ran, "stopped" as soon as it stops accepting (before in-flight
requests and lifespan shutdown finish, so the successor is announced at once), and a stop that
reacts to the child's stop pipe at once instead of uvicorn's 0.1 s tick (Server.serve, which
installs signal handlers and runs that tick, is never called). Checked against uvicorn 0.55.
hypercorn is not used: it has no documented "now accepting" hook to say ready on.
"""

import inspect

from devbox.supervisor import protocol, warmup

NO_SERVER = "an ASGI app needs an ASGI server in the image: pip install uvicorn"
_LATE_REQUEST_POLL = 0.005
# What uvicorn imports to serve one app with lifespan="auto" (its protocol "auto" modules pick
# httptools/uvloop/websockets when installed).
_SERVER_MODULES = ("uvicorn", "uvicorn.config", "uvicorn.server", "uvicorn.lifespan.on", "uvicorn.loops.auto",
                   "uvicorn.protocols.http.auto", "uvicorn.protocols.websockets.auto")
_OPTIONAL_MODULES = ("uvloop", "uvicorn.loops.uvloop")  # loop="auto" picks uvloop when installed


class NoServer(Exception):
    """No ASGI server can be imported where the app runs."""


class StartupFailed(Exception):
    """The app's lifespan startup failed (uvicorn logged its traceback)."""


def is_asgi(app):
    """uvicorn's own rule (--interface auto): a coroutine function, or an object whose __call__ is
    one, is ASGI; plus ASGI 3's signature, for sync wrappers that return a coroutine. Anything
    else (Flask, Django's WSGIHandler, Bottle) is WSGI. ASGI 2 classes are not supported."""
    if inspect.isclass(app):
        return False
    if inspect.isfunction(app) or inspect.ismethod(app):
        call = app
    else:
        call = app.__call__ if callable(app) else None
    if inspect.iscoroutinefunction(call):
        return True
    try:
        params = [p for p in inspect.signature(app).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return False
    return [p.name for p in params] == ["scope", "receive", "send"]


def import_server():
    """Import all that serving takes (NoServer when uvicorn is missing), while the child counts
    what the app import added."""
    import importlib

    try:
        for name in _SERVER_MODULES:
            importlib.import_module(name)
    except ImportError:
        raise NoServer(NO_SERVER) from None
    for name in _OPTIONAL_MODULES:  # imported by uvicorn only once it serves: too late to count
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def serve(app, listener, stop, on_ready, on_stopped, grace):
    """Serve `app` on `listener` until `stop` is requested; returns once in-flight requests and
    lifespan shutdown are done (or `grace` ran out). StartupFailed before anything was served."""
    import asyncio

    import uvicorn

    config = uvicorn.Config(app, interface="asgi3", lifespan="auto",
                            timeout_graceful_shutdown=grace, log_level="info")
    server = uvicorn.Server(config)

    async def main():
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()

        def stop_requested():
            loop.remove_reader(stop.fd)  # the pipe stays readable: once is enough
            stopping.set()

        loop.add_reader(stop.fd, stop_requested)
        config.load()
        server.lifespan = config.lifespan_class(config)
        try:
            await server.startup(sockets=[listener])
        except SystemExit:  # uvicorn's way to say lifespan startup failed
            raise StartupFailed("the app's lifespan startup failed (its traceback is above)") from None
        if server.should_exit:
            raise StartupFailed("the app's lifespan startup failed (its traceback is above)")
        if warmup.enabled():
            await warmup.asgi(config.loaded_app, tuple(listener.getsockname()[:2]),
                              getattr(server.lifespan, "state", None))
        on_ready()
        await stopping.wait()
        for each in server.servers:  # our copy of the socket only: the successor accepts
            each.close()
        on_stopped()
        await _late_requests(server.server_state, loop)
        await server.shutdown()

    loop = _new_loop(config, asyncio)
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()


async def _late_requests(state, loop):
    """Give connections accepted just before the close time to send their request: uvicorn's
    shutdown closes a connection that has none yet (the client would see a reset), as the wsgiref
    child's STOP_IDLE_TIMEOUT does, at most that long. `cycle` is None until a request came, in
    uvicorn's h11 and httptools protocols."""
    import asyncio

    deadline = loop.time() + protocol.STOP_IDLE_TIMEOUT
    while True:
        # Sleep first: a connection accepted in the last loop turn joins `connections` only once
        # asyncio's accept task and connection_made have run.
        await asyncio.sleep(_LATE_REQUEST_POLL)
        if loop.time() >= deadline or not any(getattr(c, "cycle", False) is None
                                              for c in list(state.connections)):
            return


def _new_loop(config, asyncio):
    """uvicorn's loop (uvloop when installed): get_loop_factory since 0.36, before that
    setup_event_loop set the policy."""
    if hasattr(config, "get_loop_factory"):
        factory = config.get_loop_factory()
        return factory() if factory is not None else asyncio.new_event_loop()
    config.setup_event_loop()
    return asyncio.new_event_loop()
