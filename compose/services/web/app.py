"""The web service: a WSGI app that calls the api service over the compose network."""

import os

from common import http

TITLE = "web v1"
API_URL = os.environ.get("API_URL", "http://api:9000")


def app(environ, start_response):
    try:
        api = http.get_json(API_URL + "/")
    except OSError as exc:
        api = {"error": f"{API_URL} did not answer: {exc}"}
    return http.json_response(start_response, {
        "service": "web",
        "title": TITLE,
        "common": http.VERSION,
        "pid": os.getpid(),
        "api": api,
    })
