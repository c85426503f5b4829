"""Every use of docker-py's internals, in one place, with why its public API is not enough.

Checked against docker-py 7.2.0 (the `docker` package in .venv); the same names exist since
docker-py 4.4 (`docker.transport.sshconn` with `shell_out`, `APIClient._custom_adapter`).

1. A pooled ssh adapter (`pooled_adapter`, mounted by `mount_pooled_ssh`), whose ssh children
   keep quiet (their failures are devbox's to tell). The public
   `DockerClient(base_url="ssh://...", use_ssh_client=True)` starts a new `ssh` process with a
   full login (~0.4 s even on loopback) for every API request; there is no public way to keep
   one. The adapter subclasses `docker.transport.sshconn`'s socket, connection, pool and adapter
   classes, and is set as `APIClient._custom_adapter` too: `APIClient.get_adapter` falls back
   to that private attribute for a URL no mounted prefix matches.
2. docker-py without paramiko (`import_docker(ssh=False)`): `import docker` imports
   `docker.transport.sshconn`, and so paramiko (~120 ms, half of docker-py's import), for every
   engine. Where no ssh:// engine can be in use it is imported with paramiko blocked (docker-py
   catches that ImportError and leaves `SSHHTTPAdapter` out); `import_docker(ssh=True)` later
   in the same process puts it back in `docker.transport` and `docker.api.client`.
3. The raw socket under a hijacked exec stream (`raw_socket`). `exec_start(socket=True)` returns
   a `socket.SocketIO` wrapping the socket on a unix engine (`._sock`), or the ssh adapter's socket
   itself; a long-lived binary conversation needs `sendall`/`recv`/`settimeout` on the real socket.
4. One /version request per client (`PINNED_VERSION`, `use_server_version`). With version "auto"
   (the default) the client asks the engine's /version while it is built, keeps only its
   ApiVersion, and devbox asked again for the engine's version and ping: two round trips on
   every start, and for ssh:// the first went through docker-py's own adapter (a login of its
   own) before the pooled one was mounted. So the client is built with a pinned version (no
   request), then the one /version answer sets the API version it uses (`APIClient._version`,
   what "auto" sets) and gives devbox the rest.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading


def import_docker(ssh: bool):
    """The docker package; without paramiko unless `ssh` (see 2. above)."""
    import sys

    if ssh or "docker" in sys.modules or "paramiko" in sys.modules:
        import docker

        if ssh:
            _restore_ssh()
        return docker
    sys.modules["paramiko"] = None  # import paramiko raises ImportError meanwhile
    try:
        import docker
    finally:
        if sys.modules.get("paramiko", False) is None:
            del sys.modules["paramiko"]
    return docker


def _restore_ssh() -> None:
    from docker import transport
    from docker.api import client as api_client

    if not hasattr(transport, "SSHHTTPAdapter"):
        from docker.transport.sshconn import SSHHTTPAdapter

        transport.SSHHTTPAdapter = api_client.SSHHTTPAdapter = SSHHTTPAdapter


def pinned_version() -> str:
    """The API version a client is built with before the engine's is known (see 4. above)."""
    from docker.constants import MINIMUM_DOCKER_API_VERSION

    return MINIMUM_DOCKER_API_VERSION


def use_server_version(client) -> dict:
    """The engine's /version answer, asked once; `client` (built with `pinned_version()`) then
    uses the engine's API version, as version="auto" would have it."""
    from docker import errors, utils

    versions = client.api.version(api_version=False)
    api = versions.get("ApiVersion")
    if not isinstance(api, str):
        raise errors.DockerException('Invalid response from docker daemon: key "ApiVersion" is missing.')
    if utils.version_lt(api, pinned_version()):
        raise errors.InvalidVersion(f"API versions below {pinned_version()} are no longer supported by this library.")
    client.api._version = api
    return versions


def mount_pooled_ssh(client, url: str, timeout: int) -> None:
    """Make `client` (a DockerClient for `url`, ssh://) keep its ssh connections."""
    adapter = pooled_adapter(url, timeout)
    client.api.mount("http+docker://ssh", adapter)
    client.api._custom_adapter = adapter


def raw_socket(handle, timeout: float):
    """The socket to talk to a hijacked exec stream (`api.exec_start(..., socket=True)`) over; a
    timeout is set on it unless it is an ssh process's pipe, which has none."""
    sock = getattr(handle, "_sock", handle)  # SocketIO (unix) wraps a socket; ssh gives one
    if hasattr(sock, "settimeout") and not hasattr(sock, "proc"):
        sock.settimeout(timeout)
    return sock


class _ResponseReader:
    """An ssh process's stdout as one HTTP response sees it: closing it ends the response and
    leaves the pipe open for the next request on the same connection."""

    def __init__(self, stdout, channel):
        self._stdout = stdout
        self.channel = channel  # docker-py finds the socket of a hijacked stream here
        self.closed = False

    def read(self, n=-1):
        return self._stdout.read(n)

    def read1(self, n=-1):
        return self._stdout.read1(n)

    def readinto(self, buffer):
        return self._stdout.readinto(buffer)

    def readline(self, limit=-1):
        return self._stdout.readline(limit)

    def peek(self, n=0):
        return self._stdout.peek(n)

    def fileno(self):
        return self._stdout.fileno()

    def readable(self):
        return True

    def flush(self):
        pass

    def close(self):
        self.closed = True


def _ignore_sigint() -> None:
    """In the ssh child: Ctrl-C is for devbox, which stops in order (as docker-py's child does)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def pooled_adapter(url: str, timeout: int):
    """A docker-py transport adapter for `ssh://` through the system ssh that keeps connections.

    docker-py's own shell-out adapter builds a new connection pool, so starts a new `ssh` process
    with a full login (~0.4 s even on loopback), for every API request: its socket hands out the
    ssh process's stdout as the response file, and the first response closes it. Here each
    response gets its own non-closing view of that stdout, and the client keeps one pool, so a
    `ssh ... docker system dial-stdio` process serves request after request: a reload over ssh
    then costs round trips, not logins.
    """
    from docker.transport import sshconn

    class KeptSocket(sshconn.SSHSocket):
        def connect(self, **kwargs):
            # docker-py's own connect leaves the ssh child this process's stderr, so a dropped
            # connection prints ssh's complaints raw ("Connection to ... closed by remote host",
            # "Connection refused" per retry) where devbox says it once (engine_lost). The same
            # command, with its stderr dropped; a refused login is told at start by ssh.preflight.
            env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "SSL_CERT_FILE")}
            self.proc = subprocess.Popen(
                ["ssh", *(["-l", self.user] if self.user else []), *(["-p", self.port] if self.port else []),
                 "--", self.host, "docker system dial-stdio"],
                env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                preexec_fn=_ignore_sigint)

        def makefile(self, mode):
            if not self.proc:
                self.connect()
            return _ResponseReader(self.proc.stdout, self)

        def close(self):
            # After a hijacked stream (exec, attach) the remote end has already gone: the
            # goodbye write then fails, which must not fail the request that just succeeded.
            proc, self.proc = self.proc, None
            if proc is None:
                return
            try:
                proc.stdin.close()
            except OSError:
                pass
            # No wait here: close() can run inside a finalizer, where blocking (or starting a
            # thread to reap) can deadlock. subprocess reaps an abandoned Popen on its own.
            proc.terminate()

    class KeptConnection(sshconn.SSHConnection):
        def connect(self):
            sock = KeptSocket(self.ssh_host)
            sock.settimeout(self.timeout)
            sock.connect()
            self.sock = sock

    class KeptPool(sshconn.SSHConnectionPool):
        def _new_conn(self):
            return KeptConnection(None, self.timeout, self.ssh_host)

    class PooledSSHAdapter(sshconn.SSHHTTPAdapter):
        def __init__(self):
            super().__init__(url, timeout=timeout, shell_out=True)
            self._pool = None
            self._pool_lock = threading.Lock()

        def get_connection(self, url, proxies=None):
            with self._pool_lock:
                if self._pool is None:
                    self._pool = KeptPool(timeout=self.timeout, maxsize=self.max_pool_size, host=self.ssh_host)
                return self._pool

        def close(self):
            super().close()
            with self._pool_lock:
                pool, self._pool = self._pool, None
            if pool is not None:
                pool.close()

    return PooledSSHAdapter()
