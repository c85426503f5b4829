"""The Docker engine: which one, whether it is local, and a client that answers.

Configuration comes from an environment mapping (like `docker.from_env(environment=...)`), so
tests can pass their own: DOCKER_HOST, DOCKER_CONTEXT or the CLI's current context,
DOCKER_TLS_VERIFY and DOCKER_CERT_PATH.
"""

from __future__ import annotations

import json
import os
import urllib.parse
from dataclasses import dataclass
from typing import Mapping, Optional

from devbox import docker_adapter
from devbox.errors import EngineError

DEFAULT_HOST = "unix:///var/run/docker.sock"
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", ""}


@dataclass
class Engine:
    """A connected engine. `remote` means the host's files are not the engine's files."""

    client: object  # docker.DockerClient
    url: str
    remote: bool
    version: str = ""

    @property
    def ssh_destination(self) -> Optional[str]:
        """`user@host:port` of an ssh:// engine, for port forwarding; None otherwise."""
        parsed = urllib.parse.urlparse(self.url)
        if parsed.scheme != "ssh":
            return None
        return parsed.netloc

    @property
    def forwards_ports(self) -> bool:
        """An ssh:// engine's published ports are reached through an ssh forward from here."""
        return self.ssh_destination is not None

    def close(self) -> None:
        self.client.close()


def is_remote(url: str) -> bool:
    """ssh:// is always remote; tcp:// is remote unless it points at loopback; unix/npipe are local."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "ssh":
        return True
    if parsed.scheme in ("tcp", "http", "https"):
        return (parsed.hostname or "") not in LOOPBACK_HOSTS
    return False


def resolve(environ: Mapping[str, str]) -> tuple:
    """Return (url, tls) the way the docker CLI picks them: DOCKER_HOST, then a context."""
    host = environ.get("DOCKER_HOST")
    if host:
        return host, None
    from docker.context import ContextAPI
    from docker.errors import ContextNotFound

    name = environ.get("DOCKER_CONTEXT")
    try:
        context = ContextAPI.get_context(name) if name else ContextAPI.get_current_context()
    except ContextNotFound:
        raise EngineError(f"docker context '{name}' does not exist",
                          "list them with `docker context ls`, or unset DOCKER_CONTEXT") from None
    if context is None:
        raise EngineError(f"docker context '{name}' does not exist",
                          "list them with `docker context ls`, or unset DOCKER_CONTEXT")
    tls = context.TLSConfig if getattr(context, "TLSConfig", None) else None
    return (context.Host or DEFAULT_HOST), tls


def may_use_ssh(environ: Mapping[str, str]) -> bool:
    """Whether the engine the environment names may be an ssh:// one (a named docker context may
    be: only reading it tells), so docker-py needs its ssh support (devbox.docker_adapter)."""
    host = environ.get("DOCKER_HOST")
    if host:
        return host.startswith("ssh://")
    if environ.get("DOCKER_CONTEXT", "default") != "default":
        return True
    config_dir = environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    try:
        with open(os.path.join(config_dir, "config.json"), encoding="utf-8") as f:
            current = json.load(f).get("currentContext")
    except (OSError, ValueError, AttributeError):
        return False
    return bool(current) and current != "default"


def connect(environ: Optional[Mapping[str, str]] = None, timeout: int = 60) -> Engine:
    """A client of the engine the environment names, pinged; EngineError says how to fix it."""
    environ = dict(os.environ if environ is None else environ)
    docker = docker_adapter.import_docker(ssh=may_use_ssh(environ))
    url, tls = resolve(environ)
    if url.startswith("ssh://"):
        docker_adapter.import_docker(ssh=True)
    if url.startswith("ssh://"):
        from devbox import ssh

        # One ssh login first: its stderr tells a refused key from a dead VM from a stopped Docker.
        ssh.preflight(ssh.Destination.from_url(url), environ)
    pinned = docker_adapter.pinned_version()  # the engine's is set from its one /version answer
    try:
        if url.startswith("ssh://"):
            # The system ssh honours ~/.ssh/config (keys, known hosts); paramiko refuses unknown hosts.
            client = docker.DockerClient(base_url=url, use_ssh_client=True, timeout=timeout, version=pinned)
            docker_adapter.mount_pooled_ssh(client, url, timeout)
        elif environ.get("DOCKER_HOST") or tls is None:
            client = docker.from_env(environment=environ, timeout=timeout, version=pinned)
        else:
            client = docker.DockerClient(base_url=url, tls=tls, timeout=timeout, version=pinned)
        versions = docker_adapter.use_server_version(client)
    except docker.errors.TLSParameterError as exc:
        raise EngineError(f"bad TLS settings for the Docker engine at {url}: {exc}",
                          "check DOCKER_CERT_PATH and DOCKER_TLS_VERIFY") from None
    except Exception as exc:  # noqa: BLE001 - every failure to reach it reads the same to a user
        raise EngineError(f"cannot reach the Docker engine at {url}", _start_hint(url, exc)) from None
    version = versions.get("Version", "")
    from devbox.ssh import check_engine_version

    try:
        check_engine_version(url, version, versions.get("ApiVersion", ""))
    except EngineError:
        client.close()
        raise
    return Engine(client=client, url=url, remote=is_remote(url), version=version)


def _start_hint(url: str, exc: Exception) -> str:
    text = str(exc)
    if url.startswith("ssh://"):
        if "Permission denied" in text or "publickey" in text:
            return "ssh refused the login: check the key in ~/.ssh/config or ssh-agent"
        return f"is the VM up and is Docker running there? try `ssh {url[6:]} docker info`"
    if url.startswith("unix://") or "://" not in url:
        if "Permission denied" in text:
            return "permission denied on the socket: add yourself to the docker group or use sudo"
        return "is it running? try `sudo systemctl start docker`, run `scripts/engine`, or set DOCKER_HOST"
    return "is it running and reachable? check DOCKER_HOST and the engine's firewall"
