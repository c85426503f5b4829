"""The demo app devbox serves from this repo: a plain WSGI app with two routes.

Edit GREETING and save: `devbox up` reloads it in the container before you switch windows.
"""

import json
import os
import platform

GREETING = "Hello from devbox!"


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/":
        status, body, kind = "200 OK", f"{GREETING}\n", "text/plain; charset=utf-8"
    elif path == "/info":
        info = {"python": platform.python_version(), "pid": os.getpid(), "host": platform.node()}
        status, body, kind = "200 OK", json.dumps(info) + "\n", "application/json"
    else:
        status, body, kind = "404 Not Found", f"no route {path}\n", "text/plain; charset=utf-8"
    data = body.encode()
    start_response(status, [("Content-Type", kind), ("Content-Length", str(len(data)))])
    return [data]
