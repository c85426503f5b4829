"""The agent's control protocol, both ends' shared part, and the client.

Over the agent's unix socket (home.py), one connection per request: the client sends one JSON
object on one line, `{"op": OP, ...arguments}`; the agent answers with JSON objects, one per
line, the first of which is `{"ok": true, ...}` or `{"ok": false, "error": "..."}`.

| op | arguments | answer |
|---|---|---|
| `hello` | | pid, started_at, version, config, log |
| `status` | | agent (pid, uptime, reloads, p50...), containers (status.ContainerStatus fields) |
| `events` | since (a seq; omitted: only new ones) | then one bus record per line until the agent stops |
| `wait` | timeout (seconds) | state (settled, failed, timeout, ended), error, generations |
| `stop` | | pid; the agent then stops what it started and exits |

Standard library only and free of the Docker SDK: `devbox status` answers through this in tens
of milliseconds.
"""

from __future__ import annotations

import json
import socket
from typing import Iterator, Optional

from devbox.agent.home import AgentHome
from devbox.errors import DevboxError

OPS = ("hello", "status", "events", "wait", "stop")
MAX_LINE = 1 << 20  # a request longer than this is refused
CONNECT_TIMEOUT = 2.0


def encode(message: dict) -> bytes:
    return (json.dumps(message, separators=(",", ":")) + "\n").encode()


def decode(line: bytes) -> dict:
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError("a message is a JSON object")
    return message


class AgentGone(DevboxError):
    """The agent closed the connection before answering."""


class AgentClient:
    """Requests to one project's agent. `connect` returns None when no agent listens."""

    def __init__(self, home: AgentHome):
        self.home = home

    @classmethod
    def connect(cls, home: AgentHome) -> Optional["AgentClient"]:
        client = cls(home)
        try:
            client.request("hello")
        except (OSError, AgentGone):
            return None
        return client

    def _open(self, op: str, read_timeout: Optional[float], **args) -> "socket.socket":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(CONNECT_TIMEOUT)
            sock.connect(str(self.home.socket))
            sock.sendall(encode({"op": op, **args}))
            sock.settimeout(read_timeout)
        except BaseException:
            sock.close()
            raise
        return sock

    def request(self, op: str, read_timeout: Optional[float] = 10.0, **args) -> dict:
        """The agent's answer to one request (the error it sent as a DevboxError)."""
        for message in self.stream(op, read_timeout=read_timeout, **args):
            return message
        raise AgentGone("the agent closed the connection without answering", "see `devbox status`")

    def stream(self, op: str, read_timeout: Optional[float] = None, **args) -> Iterator[dict]:
        """Every message the agent sends for one request, the first checked for an error."""
        sock = self._open(op, read_timeout, **args)
        try:
            first = True
            for line in sock.makefile("rb"):
                message = decode(line)
                if first and not message.get("ok"):
                    raise DevboxError(f"the agent refused `{op}`: {message.get('error')}")
                first = False
                yield message
        finally:
            sock.close()
