"""The warm-up request (protocol.WARM_UP_*): one GET / that an app child runs through the app
in-process, after the import and before it says ready, so that what the printed reload time
measures is what the user waits for (save -> the new code answers).

Without it, "ready" meant "imported and accepting", and the first real request still paid the
framework's lazy set-up: 27-60 ms for FastAPI (Starlette builds its middleware stack at the first
request, a sync endpoint starts anyio's thread pool), ~20 ms for Django (the URLconf is imported
at the first request). With it, that cost falls inside the overlap window, while the old child
still answers. Not HEAD: FastAPI answers 405 without running anything.

Nothing here is the warm template (warm.py, template.py): that one imports dependencies once.
The answer is dropped and an exception is the app's business (the next real request shows it);
a view that takes longer than WARM_UP_TIMEOUT is left running and the child says ready anyway.
`DEVBOX_WARM_UP=0` in the app's environment turns it off.
"""

import io
import os
import sys
import threading

from devbox.supervisor import protocol
from devbox.supervisor.primitives import served_name


def enabled(environ=None):
    return (environ or os.environ).get(protocol.ENV_WARM_UP) != protocol.WARM_UP_OFF


def wsgi(app, server_name, server_port):
    """Run the request through the WSGI `app` in a thread; return when it is done or after
    WARM_UP_TIMEOUT, whichever comes first."""
    host = "%s:%s" % (server_name, server_port)
    environ = {
        "REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": protocol.WARM_UP_PATH,
        "QUERY_STRING": "", "SERVER_NAME": server_name, "SERVER_PORT": str(server_port),
        "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "CONTENT_TYPE": "text/plain",
        "HTTP_HOST": host, "HTTP_USER_AGENT": protocol.WARM_UP_USER_AGENT,
        "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }

    def run():
        try:
            result = app(environ, lambda status, headers, exc_info=None: (lambda data: None))
            try:
                for _ in result:
                    pass
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except BaseException:  # noqa: BLE001 - the app's to show, on the next real request
            pass

    thread = threading.Thread(target=run, name="devbox-warm-up", daemon=True)
    thread.start()
    thread.join(protocol.WARM_UP_TIMEOUT)


async def asgi(app, server, state):
    """Run the request through the ASGI 3 `app` (already inside its event loop, after lifespan
    startup: `state` is the lifespan state a request scope carries)."""
    import asyncio

    host = "%s:%s" % (served_name(server[0]), server[1])
    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": protocol.WARM_UP_PATH, "raw_path": protocol.WARM_UP_PATH.encode(),
        "query_string": b"", "root_path": "",
        "headers": [(b"host", host.encode("latin-1")),
                    (b"user-agent", protocol.WARM_UP_USER_AGENT.encode())],
        "client": ("127.0.0.1", 0), "server": server, "state": dict(state or {}),
    }
    done = asyncio.Event()
    sent_body = []

    async def receive():
        if not sent_body:
            sent_body.append(True)
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()  # a streaming response listens for the client leaving: not before
        return {"type": "http.disconnect"}

    async def send(message):
        if message.get("type") == "http.response.body" and not message.get("more_body"):
            done.set()

    try:
        await asyncio.wait_for(app(scope, receive, send), protocol.WARM_UP_TIMEOUT)
    except Exception:  # noqa: BLE001 - the app's to show, on the next real request (timeouts too)
        pass
