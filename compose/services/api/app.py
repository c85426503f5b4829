"""The api service: a plain WSGI app answering JSON."""

import os

from common import http

MESSAGE = "hello from api v1"


def app(environ, start_response):
    return http.json_response(start_response, {
        "service": "api",
        "message": MESSAGE,
        "common": http.VERSION,
        "pid": os.getpid(),  # the serving process: it changes when the service reloads
    })
