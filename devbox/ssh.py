"""The system ssh client, for ssh:// engines: the destination, its command lines, its errors.

devbox uses the user's own `ssh` (their ~/.ssh/config, keys, agent and known hosts), as the
docker CLI and docker-py's `use_ssh_client=True` do. It always runs ssh with BatchMode: a
password or passphrase prompt would hang a detached forward, and the engine's own connections
could not answer it either. A preflight over one ssh session tells apart the failures a user
fixes differently (login refused, host unreachable, Docker missing, stopped or too old) before
docker-py's connections, whose ssh errors would only read "connection aborted".
"""

from __future__ import annotations

import re
import subprocess
import urllib.parse
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence, Tuple

from devbox.errors import RemoteError

CONNECT_TIMEOUT = 10  # seconds for ssh to reach the host and log in
# `docker system dial-stdio`, which every ssh:// client runs on the remote side, came in 18.09.
MIN_DOCKER = (18, 9)
MIN_API = (1, 39)

UNREACHABLE = ("Connection refused", "No route to host", "Could not resolve hostname", "timed out",
               "Network is unreachable", "Name or service not known", "Connection closed",
               "Connection reset", "kex_exchange_identification")


@dataclass(frozen=True)
class Destination:
    """Where an ssh:// engine lives: `ssh://[user@]host[:port]`."""

    host: str
    user: Optional[str] = None
    port: Optional[int] = None

    @classmethod
    def from_url(cls, url: str) -> "Destination":
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme != "ssh" or not parsed.hostname:
            raise RemoteError(f"not an ssh:// engine address: {url!r}", "e.g. DOCKER_HOST=ssh://me@vm")
        try:
            port = parsed.port
        except ValueError:
            raise RemoteError(f"bad port in {url!r}", "e.g. DOCKER_HOST=ssh://me@vm:2222") from None
        return cls(host=parsed.hostname, user=parsed.username, port=port)

    def __str__(self) -> str:
        return f"{self.user + '@' if self.user else ''}{self.host}{':' + str(self.port) if self.port else ''}"

    def command(self, *remote: str, options: Sequence[str] = ()) -> list:
        """An ssh command line to this destination (the argument order docker-py uses)."""
        args = ["ssh", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT}", *options]
        if self.user:
            args += ["-l", self.user]
        if self.port:
            args += ["-p", str(self.port)]
        return args + ["--", self.host, *remote]

    def try_it(self) -> str:
        """What a user types to see the problem for themselves."""
        return f"ssh {'-p ' + str(self.port) + ' ' if self.port else ''}{self.user + '@' if self.user else ''}{self.host}"


def explain(dest: Destination, stderr: str) -> RemoteError:
    """The error an ssh failure (exit status 255) means, from what ssh printed."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and not line.startswith("Warning:")]
    last = lines[-1] if lines else "ssh exited with status 255"
    if "Permission denied" in stderr or "Too many authentication failures" in stderr:
        return RemoteError(f"ssh refused the login to {dest}: {last}",
                           f"load the key into ssh-agent (`ssh-add`) or set IdentityFile for this host in "
                           f"~/.ssh/config; check with `{dest.try_it()}`")
    if "Host key verification failed" in stderr or "IDENTIFICATION HAS CHANGED" in stderr:
        return RemoteError(f"ssh does not trust the host key of {dest}",
                           f"connect once with `{dest.try_it()}` to check and accept it")
    if any(marker in stderr for marker in UNREACHABLE):
        return RemoteError(f"cannot reach {dest} over ssh: {last}",
                           f"is the VM up and its sshd listening? check with `{dest.try_it()}`")
    return RemoteError(f"ssh to {dest} failed: {last}", f"check with `{dest.try_it()}`")


def version_tuple(text: str) -> Tuple[int, ...]:
    """(18, 9, 1) for "18.09.1", (20, 10, 24) for "20.10.24+dfsg1", () when there is no number."""
    numbers = []
    for part in text.strip().split("."):
        match = re.match(r"\d+", part)
        if not match:
            break
        numbers.append(int(match.group()))
    return tuple(numbers)


def check_engine_version(where: str, version: str, api_version: str) -> None:
    """RemoteError when the engine is older than devbox needs."""
    api = version_tuple(api_version)
    if api and api < MIN_API:
        raise RemoteError(
            f"the Docker engine at {where} is too old (Docker {version or '?'}, API {api_version}): "
            f"devbox needs Docker {MIN_DOCKER[0]}.{MIN_DOCKER[1]:02d} (API {MIN_API[0]}.{MIN_API[1]}) or newer",
            "upgrade Docker on that machine")


def preflight(dest: Destination, env: Optional[Mapping[str, str]] = None) -> Tuple[str, str]:
    """Log in once and ask the remote docker CLI for its versions: (engine version, API version).

    RemoteError says which of login, network, Docker installation or Docker daemon failed.
    """
    remote = "docker version --format '{{.Client.Version}}|{{.Server.Version}}|{{.Server.APIVersion}}'"
    try:
        result = subprocess.run(dest.command(remote), env=None if env is None else dict(env),
                                stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                timeout=CONNECT_TIMEOUT + 30)
    except FileNotFoundError:
        raise RemoteError("ssh:// engines need the `ssh` client, and it is not installed here",
                          "install OpenSSH's client (e.g. `apt-get install openssh-client`)") from None
    except subprocess.TimeoutExpired:
        raise RemoteError(f"ssh to {dest} did not answer within {CONNECT_TIMEOUT + 30} s",
                          f"check with `{dest.try_it()}`") from None
    if result.returncode == 255:
        raise explain(dest, result.stderr)
    output = result.stdout.strip()
    if result.returncode == 127 or ("not found" in result.stderr and not output):
        raise RemoteError(f"docker is not installed on {dest.host} (or not on the ssh user's PATH)",
                          f"ssh:// engines run `docker system dial-stdio` there; install Docker "
                          f"{MIN_DOCKER[0]}.{MIN_DOCKER[1]:02d} or newer")
    client, _, rest = output.partition("|")
    server, _, api = rest.partition("|")
    client_version = version_tuple(client)
    if client_version and client_version < MIN_DOCKER:
        raise RemoteError(f"the docker CLI on {dest.host} is too old ({client}): ssh:// engines need "
                          f"{MIN_DOCKER[0]}.{MIN_DOCKER[1]:02d} or newer there (`docker system dial-stdio`)",
                          "upgrade Docker on that machine")
    if result.returncode != 0 or not api or not version_tuple(api):
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        reason = lines[-1] if lines else f"docker version exited with status {result.returncode}"
        hint = ("add the ssh user to the docker group there" if "permission denied" in reason.lower()
                else "start it there, e.g. `sudo systemctl start docker`")
        raise RemoteError(f"Docker on {dest.host} does not answer: {reason}", hint)
    check_engine_version(f"ssh://{dest}", server, api)
    return server, api
