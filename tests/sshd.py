"""A throwaway OpenSSH server on 127.0.0.1 in front of this machine's Docker engine.

It makes `DOCKER_HOST=ssh://root@127.0.0.1:PORT` a real remote engine for tests and benchmarks:
the same engine, reached the way a VM is, through the system ssh client. Nothing of the
machine's own ssh setup is touched: the server has its own config, host key and authorized
keys in a temporary directory, and clients find their key and config through an `ssh` wrapper
placed first on PATH (OpenSSH reads ~/.ssh from the password database, not $HOME, so HOME
cannot point it elsewhere).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

from tests.waiting import wait_until

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
SSH = shutil.which("ssh") or "/usr/bin/ssh"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> None:
    for stale in (path, path.with_name(path.name + ".pub")):
        if stale.exists():
            stale.unlink()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "devbox-test", "-f", str(path)],
                   check=True, capture_output=True)


class SshServer:
    """`sshd -D` as a child process; `env()` is what a client process needs to use it."""

    def __init__(self, directory: Path, user: str = "root", forwarding: bool = True):
        self.dir = Path(directory)
        self.user = user
        self.forwarding = forwarding  # False: a VM whose sshd refuses TCP forwarding
        self.port = _free_port()
        self.process = None

    @property
    def url(self) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}"

    def start(self) -> "SshServer":
        if not os.path.exists(SSHD):
            raise RuntimeError("sshd is not installed: scripts/test installs openssh-server (engine_ssh_tools)")
        self.dir.mkdir(parents=True, exist_ok=True)
        _keygen(self.dir / "host_key")
        _keygen(self.dir / "client_key")
        # Per-user key files: only `self.user` may log in, so another user is a real auth failure.
        (self.dir / f"authorized_keys.{self.user}").write_text((self.dir / "client_key.pub").read_text())
        config = self.dir / "sshd_config"
        config.write_text("\n".join([
            f"Port {self.port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {self.dir / 'host_key'}",
            f"AuthorizedKeysFile {self.dir}/authorized_keys.%u",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "PidFile none",
            f"AllowTcpForwarding {'yes' if self.forwarding else 'no'}",
            "MaxStartups 100",
            "LogLevel INFO",
            "",
        ]))
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation directory
        self.log = open(self.dir / "sshd.log", "wb")
        self.process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdin=subprocess.DEVNULL,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        self._write_client_files()
        wait_until(self._answers, 15, 0.02, f"sshd on 127.0.0.1:{self.port} (log: {self.dir / 'sshd.log'})")
        return self

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"sshd exited with {self.process.returncode}: {(self.dir / 'sshd.log').read_text()}")
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def _write_client_files(self) -> None:
        config = self.dir / "ssh_config"
        config.write_text("\n".join([
            "Host *",
            f"  IdentityFile {self.dir / 'client_key'}",
            "  IdentitiesOnly yes",
            "  StrictHostKeyChecking no",
            "  UserKnownHostsFile /dev/null",
            "  LogLevel ERROR",
            "",
        ]))
        bindir = self.dir / "bin"
        bindir.mkdir(exist_ok=True)
        wrapper = bindir / "ssh"
        wrapper.write_text(f'#!/bin/sh\nexec {SSH} -F {config} "$@"\n')
        wrapper.chmod(0o755)
        (self.dir / "home").mkdir(exist_ok=True)

    def env(self, user: str = "", port: int = 0) -> dict:
        """Environment for a client: this server as DOCKER_HOST (optionally another user or
        port, for failure tests), the ssh wrapper first on PATH, and a HOME and cache of its own."""
        url = f"ssh://{user or self.user}@127.0.0.1:{port or self.port}"
        return {
            "DOCKER_HOST": url,
            "PATH": f"{self.dir / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOME": str(self.dir / "home"),
            "XDG_CACHE_HOME": str(self.dir / "home" / ".cache"),
        }

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None:
            self.log.close()
