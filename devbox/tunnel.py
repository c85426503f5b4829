"""Port forwarding for ssh:// engines: one `ssh -N -L` child from this machine to the VM.

The container publishes its ports on the VM's 127.0.0.1 only, at ports the engine picks (so
nothing on the VM, or another developer's devbox there, conflicts). This machine listens on the
ports devbox.yml names and forwards each to the VM's 127.0.0.1:<published port> over the same
ssh destination as the engine. The URL a user opens is the one devbox.yml describes.

Every forward is recorded in a state file (pid, command line) under the user's cache directory,
so a forward that outlives its `devbox up` (`up -d`, or a killed `up`) is stopped by the next
`devbox up` or by `devbox down` of the same project on the same engine, and a pid reused by some
other process is never signalled.
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, List, Mapping, Optional, Sequence

from devbox import events
from devbox.errors import ForwardError, RemoteError
from devbox.ssh import Destination, explain
from devbox.urls import connect_host, http_url

READY_TIMEOUT = 30.0
# A foreground forward that ended on its own is started again after these pauses (seconds), then
# every 30 s: quickly after a killed ssh, patiently while the network is down.
REOPEN_DELAYS = (0.2, 1.0, 2.0, 5.0, 10.0)
REOPEN_EVERY = 30.0
STOP_TIMEOUT = 5.0
# A foreground forward runs this on the VM with its stdin a pipe from devbox: when devbox exits
# for any reason (even SIGKILL) the pipe closes, `cat` ends, and ssh with it. A detached forward
# runs no command (-N) and lives until `devbox down`.
LIFELINE = "cat >/dev/null"
SSH_OPTIONS = (
    "-T",  # no terminal on the VM
    "-o", "LogLevel=INFO",  # where ssh says why it could not carry a connection ("open failed: ...")
    "-o", "ExitOnForwardFailure=yes",  # a local port it cannot bind is an exit, not a warning
    "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3",  # notice a dead VM in ~45 s
    "-o", "ControlMaster=no", "-o", "ControlPath=none",  # our own connection: its pid is the forward's
)


@dataclass(frozen=True)
class Forward:
    """One published port: local_ip:local_port here -> 127.0.0.1:remote_port on the VM."""

    local_ip: str
    local_port: int
    remote_port: int
    container_port: int

    @property
    def spec(self) -> str:
        local = f"[{self.local_ip}]" if ":" in self.local_ip else self.local_ip  # ssh's syntax for IPv6
        return f"{local}:{self.local_port}:127.0.0.1:{self.remote_port}"

    @property
    def url(self) -> str:
        return http_url(self.local_ip, self.local_port)


def state_dir(environ: Optional[Mapping[str, str]] = None) -> Path:
    """$XDG_CACHE_HOME/devbox/forwards, else ~/.cache/devbox/forwards."""
    from devbox.paths import user_cache_dir

    return user_cache_dir(environ) / "forwards"


def state_file(project: str, engine_url: str, environ=None) -> Path:
    digest = hashlib.sha1(engine_url.encode()).hexdigest()[:8]
    return state_dir(environ) / f"{project}-{digest}.json"


# -- planning -----------------------------------------------------------------------------------

def published(container, spec_forwards) -> List[Forward]:
    """The forwards for a started container: each (local_ip, local_port, container_port) of the
    spec joined with the port the engine published it at on the VM."""
    container.reload()
    ports = (container.attrs.get("NetworkSettings") or {}).get("Ports") or {}
    result = []
    for local_ip, local_port, container_port in spec_forwards:
        bindings = ports.get(f"{container_port}/tcp") or []
        remote = next((b.get("HostPort") for b in bindings if b.get("HostPort")), None)
        if remote is None:
            raise ForwardError(f"the engine published no port for container port {container_port}",
                               "see `devbox status`; `devbox down` and `devbox up` recreate the container")
        result.append(Forward(local_ip, int(local_port), int(remote), int(container_port)))
    return result


def check_free(addresses: Sequence[tuple]) -> None:
    """ForwardError naming the first (ip, port) already taken on this machine."""
    for ip, port in addresses:
        with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET) as probe:
            try:
                probe.bind((ip, port))
            except OSError as exc:
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    raise port_in_use(ip, port) from None
                raise ForwardError(f"cannot listen on {ip}:{port} on this machine: {exc.strerror}") from None


def port_in_use(ip: str, port: int) -> ForwardError:
    return ForwardError(f"port {port} on {ip} is already in use on this machine, so it cannot be forwarded "
                        f"to the remote engine; set `ports: [\"{port + 1}:...\"]` in devbox.yml or stop "
                        "what uses it. Nothing is left running")


# -- the ssh process ----------------------------------------------------------------------------

class Tunnel:
    """A running `ssh -N -L ...` and the state file that records it."""

    def __init__(self, pid: int, args: List[str], forwards: List[Forward], state: Path,
                 process: Optional[subprocess.Popen] = None):
        self.pid, self.args, self.forwards, self.state = pid, args, forwards, state
        self.process = process
        self.stopping = False
        self.ready = False  # listening on every local port

    @property
    def urls(self) -> List[str]:
        return [f.url for f in self.forwards]

    def alive(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        return _is_ours(self.pid, self.args)

    def stop(self, timeout: float = STOP_TIMEOUT) -> float:
        """SIGTERM the ssh process (SIGKILL after `timeout`), forget it; seconds taken."""
        started = time.monotonic()
        self.stopping = True
        if self.alive():
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            if not _wait_gone(self, timeout):
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                _wait_gone(self, timeout)
        for path in (self.state, self.state.with_suffix(".log")):
            try:
                path.unlink()
            except FileNotFoundError:
                pass
        return time.monotonic() - started

    def record(self, destination: str, engine_url: str, detached: bool) -> None:
        self.state.parent.mkdir(parents=True, exist_ok=True)
        payload = dict(pid=self.pid, args=self.args, destination=destination, engine=engine_url,
                       detached=detached, started=time.time(), forwards=[asdict(f) for f in self.forwards])
        temporary = self.state.with_suffix(".tmp")
        temporary.write_text(json.dumps(payload, indent=1))
        os.replace(temporary, self.state)

    @classmethod
    def recorded(cls, state: Path) -> Optional["Tunnel"]:
        """The forward a state file describes, or None (no file, or an unreadable one)."""
        try:
            payload = json.loads(state.read_text())
            forwards = [Forward(**f) for f in payload["forwards"]]
            return cls(int(payload["pid"]), list(payload["args"]), forwards, state)
        except (OSError, ValueError, KeyError, TypeError):
            return None


def _wait_gone(tunnel: Tunnel, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    if tunnel.process is not None:
        try:
            tunnel.process.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
    while time.monotonic() < deadline:
        if not _is_ours(tunnel.pid, tunnel.args):
            return True
        time.sleep(0.02)
    return False


def _is_ours(pid: int, args: Sequence[str]) -> bool:
    """Whether `pid` is alive (not a zombie) and runs our ssh command line. An `ssh` found on
    PATH may be a wrapper that execs the real one with options of its own before ours, so the
    program must be an ssh and its arguments must end with ours."""
    proc = Path(f"/proc/{pid}")
    if Path("/proc/self").exists():
        try:
            cmdline = [part.decode(errors="replace") for part in (proc / "cmdline").read_bytes().split(b"\0")[:-1]]
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        return state not in ("Z", "X") and _same_ssh(cmdline, list(args))
    try:  # no /proc (macOS): ask ps
        out = subprocess.run(["ps", "-o", "stat=,command=", "-p", str(pid)], capture_output=True, text=True,
                             timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return False
    stat_, _, command = out.partition(" ")
    return bool(out) and not stat_.startswith("Z") and command.strip().endswith(" ".join(args[1:])) \
        and "ssh" in command.split()[0]


def _same_ssh(cmdline: List[str], args: List[str]) -> bool:
    tail = args[1:]
    return bool(cmdline) and "ssh" in os.path.basename(cmdline[0]) and len(cmdline) >= len(args) \
        and cmdline[len(cmdline) - len(tail):] == tail


def release(project: str, engine_url: str, environ=None) -> Optional[Tunnel]:
    """Stop the recorded forward of this project on this engine; the one stopped, if it ran."""
    state = state_file(project, engine_url, environ)
    tunnel = Tunnel.recorded(state)
    if tunnel is None:
        try:
            state.unlink()
        except FileNotFoundError:
            pass
        return None
    was_running = tunnel.alive()
    tunnel.stop()
    return tunnel if was_running else None


def find(project: str, engine_url: str, environ=None) -> Optional[Tunnel]:
    """The recorded forward of this project if it still runs."""
    tunnel = Tunnel.recorded(state_file(project, engine_url, environ))
    return tunnel if tunnel is not None and tunnel.alive() else None


def start(dest: Destination, forwards: List[Forward], state: Path, *, engine_url: str, detach: bool,
          report: Callable[..., None] = lambda event, **f: None, env: Optional[Mapping[str, str]] = None,
          timeout: float = READY_TIMEOUT) -> Tunnel:
    """Start `ssh -L ...` for `forwards` and return once every local port accepts connections.

    The process runs in its own session, so Ctrl-C in the terminal reaches devbox, which stops it
    in order, and a detached forward survives this process. A detached forward's stderr goes to a
    log file next to the state file; a foreground one's is relayed as `forward_message` events
    (e.g. the VM refusing a connection) and kept in that file too. A failure to start is raised
    as ForwardError/RemoteError with ssh's reason.
    """
    options = list(SSH_OPTIONS) + (["-N"] if detach else [])
    for forward in forwards:
        options += ["-L", forward.spec]
    args = dest.command(*([] if detach else [LIFELINE]), options=options)
    state.parent.mkdir(parents=True, exist_ok=True)
    log_path = state.with_suffix(".log")
    with open(log_path, "wb") as log:
        try:
            process = subprocess.Popen(args, stdin=subprocess.DEVNULL if detach else subprocess.PIPE,
                                       stdout=subprocess.DEVNULL, stderr=log if detach else subprocess.PIPE,
                                       start_new_session=True, env=None if env is None else dict(env))
        except FileNotFoundError:
            raise RemoteError("forwarding ports to an ssh:// engine needs the `ssh` client, and it is not "
                              "installed here") from None
    tunnel = Tunnel(process.pid, args, forwards, state, process)
    tunnel.record(str(dest), engine_url, detach)
    relay = None
    if not detach:
        relay = threading.Thread(target=_relay, args=(tunnel, log_path, report), daemon=True, name="ssh-forward")
        relay.start()
    try:
        _wait_listening(tunnel, dest, log_path, timeout, relay)
    except BaseException:  # a failure, or Ctrl-C meanwhile: no forward is left behind
        tunnel.stop()
        raise
    tunnel.ready = True
    for forward in forwards:
        report(events.FORWARDING, url=forward.url, destination=str(dest), remote_port=forward.remote_port,
               pid=process.pid, detached=detach)
    return tunnel


def _wait_listening(tunnel: Tunnel, dest: Destination, log_path: Path, timeout: float,
                    relay: Optional[threading.Thread]) -> None:
    deadline = time.monotonic() + timeout
    pending = list(tunnel.forwards)
    while pending:
        status = tunnel.process.poll()
        if status is not None:
            if relay is not None:
                relay.join(5.0)  # everything ssh said is in the log once the relay saw EOF
            raise _failure(dest, tunnel.forwards, log_path.read_text(errors="replace"), status)
        if _accepts(pending[0]):
            pending.pop(0)
            continue
        if time.monotonic() > deadline:
            raise ForwardError(f"the ssh forward to {dest} did not start listening within {timeout:g} s",
                               f"see {log_path}")
        time.sleep(0.02)  # ssh says nothing when it listens: poll the port, bounded by the deadline


def _accepts(forward: Forward) -> bool:
    try:
        with socket.create_connection((connect_host(forward.local_ip), forward.local_port), timeout=1.0):
            return True
    except OSError:
        return False


def _failure(dest: Destination, forwards: List[Forward], stderr: str, status: int):
    """The error a forward's early exit means."""
    if "Address already in use" in stderr or "cannot listen to port" in stderr:
        for forward in forwards:
            if re.search(rf"(\]:|port: ){forward.local_port}\b", stderr):
                return port_in_use(forward.local_ip, forward.local_port)
    if status == 255 and "forwarding" not in stderr.lower():
        return explain(dest, stderr)
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return ForwardError(f"the ssh port forward to {dest} failed: {lines[-1] if lines else f'exit status {status}'}",
                        "is TCP forwarding allowed by the VM's sshd (AllowTcpForwarding)?")


def _hint(message: str) -> str:
    if "administratively prohibited" in message:
        return "the VM's sshd does not allow TCP forwarding: set `AllowTcpForwarding yes` there"
    if "Connection refused" in message:
        return "nothing listens on the container's published port: see the app's output above"
    return ""


def _relay(tunnel: Tunnel, log_path: Path, report) -> None:
    """A foreground forward's stderr: kept in the log, told to the user once it serves, and its
    end reported when it was not asked for (VM gone, network lost)."""
    process = tunnel.process
    last = None
    with open(log_path, "ab") as log:
        for raw in iter(process.stderr.readline, b""):
            log.write(raw)
            log.flush()
            line = raw.decode(errors="replace").strip()
            gist = re.sub(r"^channel \d+: ", "", line)  # one line per kind of trouble, not per request
            if line and gist != last and tunnel.ready and not tunnel.stopping:
                last = gist
                report(events.FORWARD_MESSAGE, line=gist, hint=_hint(gist))
    status = process.wait()
    if tunnel.ready and not tunnel.stopping:
        lines = [line.strip() for line in log_path.read_text(errors="replace").splitlines() if line.strip()]
        report(events.FORWARD_LOST, status=status, reason=lines[-1] if lines else f"exit status {status}")


class Forwarding:
    """The ssh forwards of one project's container on one ssh:// engine, across its lifetime:
    checked before the container starts, opened once it serves, reopened when a rebuild
    recreates it (the engine picks new ports) and when a foreground forward ends on its own (ssh
    killed, the network lost: tried again with back-off until it listens, or until the engine's
    return recreates it), closed on exit."""

    def __init__(self, engine_url: str, project: str, report: Callable[..., None] = lambda event, **f: None,
                 environ: Optional[Mapping[str, str]] = None):
        self.engine_url, self.project, self.report, self.environ = engine_url, project, report, environ
        self.dest = Destination.from_url(engine_url)
        self.state = state_file(project, engine_url, environ)
        self.tunnel: Optional[Tunnel] = None
        self.detach = False
        self._lock = threading.RLock()  # open, refresh, close and a reopening thread, one at a time
        self._wanted = None  # (container, spec_forwards) of the last open: what a reopen forwards
        self._closed = threading.Event()

    def prepare(self, spec_forwards) -> None:
        """Stop this project's earlier forward (its ports are ours again), then check that every
        local port is free, before anything starts."""
        release(self.project, self.engine_url, self.environ)
        check_free([(ip, port) for ip, port, _ in spec_forwards])

    def open(self, container, spec_forwards, detach: bool = False) -> Optional[Tunnel]:
        with self._lock:
            self.detach = detach
            if not spec_forwards:
                return None
            self._wanted = (container, spec_forwards)
            self.tunnel = self._start(container, spec_forwards)
            return self.tunnel

    def _start(self, container, spec_forwards) -> Tunnel:
        return start(self.dest, published(container, spec_forwards), self.state, engine_url=self.engine_url,
                     detach=self.detach, report=self._report, env=self.environ)

    def refresh(self, container, spec_forwards) -> None:
        """After the container was recreated: forward to its new ports if they changed."""
        with self._lock:
            if self.tunnel is not None and published(container, spec_forwards) == self.tunnel.forwards \
                    and self.tunnel.alive():
                return
            self.close()
            self._closed.clear()
            self.open(container, spec_forwards, self.detach)

    def close(self) -> float:
        """Stop the forward; seconds taken."""
        self._closed.set()
        with self._lock:
            tunnel, self.tunnel = self.tunnel, None
            return tunnel.stop() if tunnel is not None else 0.0

    # -- a forward that ended on its own -------------------------------------------------------
    def _report(self, event: str, **fields) -> None:
        self.report(event, **fields)
        if event == events.FORWARD_LOST and not self._closed.is_set():
            lost = self.tunnel
            threading.Thread(target=self._reopen, args=(lost,), name="ssh-forward-reopen", daemon=True).start()

    def _reopen(self, lost: Optional[Tunnel]) -> None:
        """Start the forward again, with back-off, while `lost` is still the one we have. The
        lock is not held while ssh starts (that can take READY_TIMEOUT): close() stays prompt,
        and a forward that started after it is stopped here."""
        delays = itertools.chain(REOPEN_DELAYS, itertools.repeat(REOPEN_EVERY))
        for attempt, delay in enumerate(delays, 1):
            if self._closed.wait(delay):
                return
            with self._lock:
                if self.tunnel is not lost or self._wanted is None:
                    return  # refreshed meanwhile
                container, spec_forwards = self._wanted
            try:
                tunnel = self._start(container, spec_forwards)
            except (ForwardError, RemoteError) as exc:
                if attempt == 1:
                    self.report(events.FORWARD_RETRYING, reason=str(exc).splitlines()[0])
                continue
            except Exception as exc:  # only a lost engine: sorted below
                from devbox.recovery import engine_lost

                if not engine_lost(exc):
                    raise
                continue  # the engine went with the forward (the same ssh link): recovery says so
            with self._lock:
                if self._closed.is_set() or self.tunnel is not lost:
                    tunnel.stop()
                    return
                self.tunnel = tunnel
            self.report(events.FORWARD_REOPENED, urls=tunnel.urls, pid=tunnel.pid, attempts=attempt)
            return
