"""JSON over HTTP with the standard library only (the example's image has no pip)."""

import json
import urllib.request

VERSION = "common v1"


def json_response(start_response, data, status="200 OK"):
    """Answer a WSGI request with `data` as JSON."""
    body = (json.dumps(data, sort_keys=True) + "\n").encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def get_json(url, timeout=5.0):
    """GET `url` and decode its JSON body."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read().decode())
