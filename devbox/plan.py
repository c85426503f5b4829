"""Pure planning: a Config becomes a ContainerSpec. No I/O here, so it is tested without Docker."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Optional, Tuple

from devbox import __version__
from devbox.supervisor import protocol

SUPERVISOR_ROOT = protocol.INSTALL_ROOT
# A launcher script, not `python3 -m devbox.supervisor`: with -m the project directory comes first
# on sys.path, and a project that has its own `devbox` package would shadow the injected one.
SUPERVISOR_LAUNCHER = f"{SUPERVISOR_ROOT}/devbox-supervisor"
STATUS_FILE = "/tmp/devbox-status.json"

LABEL_PROJECT = "devbox.project"
LABEL_HASH = "devbox.config-hash"
LABEL_ROOT = "devbox.root"
LABEL_VERSION = "devbox.version"


@dataclass(frozen=True)
class HostFacts:
    """What planning needs to know about the host and engine, gathered by the caller."""

    uid: Optional[int] = None  # None where uid:gid mapping makes no sense (not Linux)
    gid: Optional[int] = None
    remote: bool = False  # the engine cannot see the host's files
    forward: bool = False  # published ports are reached through an ssh forward (ssh:// engine)


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str
    command: Tuple[str, ...]
    workdir: str
    bind_source: Optional[str]  # the project directory, or None in copy mode
    ports: Tuple[Tuple[int, str, int], ...]  # (container_port, host_ip, host_port)
    env: Tuple[Tuple[str, str], ...]
    labels: Tuple[Tuple[str, str], ...] = ()
    user: Optional[str] = None
    stop_signal: str = protocol.STOP_SIGNALS[0]
    stop_timeout: int = 10
    config_hash: str = field(default="", compare=False)
    # (local_ip, local_port, container_port) forwarded over ssh to the ports the engine publishes
    # on its own loopback; not part of the config hash (the container does not depend on them).
    forwards: Tuple[Tuple[str, int, int], ...] = field(default=(), compare=False)

    @property
    def sync(self) -> str:
        return "bind" if self.bind_source else "copy"

    @property
    def urls(self) -> Tuple[str, ...]:
        if self.forwards:
            return tuple(f"http://{url_host(ip)}:{port}" for ip, port, _ in self.forwards)
        return tuple(f"http://{url_host(ip)}:{host_port}" for _, ip, host_port in self.ports)

    def create_kwargs(self) -> dict:
        """Keyword arguments for docker's `containers.create`."""
        kwargs = dict(
            image=self.image,
            command=list(self.command),
            name=self.name,
            working_dir=self.workdir,
            environment=dict(self.env),
            labels=dict(self.labels),
            ports={f"{c}/tcp": (ip, h or None) for c, ip, h in self.ports},  # 0: the engine picks
            stop_signal=self.stop_signal,
            # No stop_timeout: docker-py's containers.create refuses it; devbox passes the timeout
            # to every stop it makes.
            detach=True,
        )
        if self.bind_source:
            kwargs["volumes"] = {self.bind_source: {"bind": self.workdir, "mode": "rw"}}
        if self.user:
            kwargs["user"] = self.user
        return kwargs


def url_host(ip: str) -> str:
    """The host part of a URL for a published address: a wildcard becomes loopback."""
    return "127.0.0.1" if ip in ("0.0.0.0", "") else (f"[{ip}]" if ":" in ip else ip)


def sync_mode(config, facts: HostFacts) -> str:
    """bind or copy: `auto` binds a local engine's mount and copies to a remote one."""
    if config.sync == "auto":
        return "copy" if facts.remote else "bind"
    return config.sync


def supervisor_command(*, app=None, command=None, port=None, listen=protocol.LISTEN_MODE_FD, grace=5.0, warm=True, overlap=True,
                       preload=()) -> Tuple[str, ...]:
    """The container's command: the injected supervisor running the app or the user's command."""
    args = ["python3", SUPERVISOR_LAUNCHER, protocol.FLAG_STATUS_FILE, STATUS_FILE, protocol.FLAG_GRACE, f"{grace:g}"]
    if port is not None:
        args += [protocol.FLAG_PORT, str(port), protocol.FLAG_HOST, "0.0.0.0"]
    if app:
        return tuple(args + reload_flags(warm, overlap, preload) + [protocol.FLAG_APP, app])
    return tuple(args + [protocol.FLAG_LISTEN, listen, "--"] + list(command))


def reload_flags(warm=True, overlap=True, preload=()) -> list:
    """The supervisor's flags for devbox.yml's `reload:` and `preload:` (they apply to `app:`, whose
    children the supervisor forks from a warm template and hands over without a gap)."""
    flags = [] if warm else [protocol.FLAG_NO_WARM]
    if not overlap:
        flags.append(protocol.FLAG_NO_OVERLAP)
    if preload:
        flags += [protocol.FLAG_PRELOAD, ",".join(preload)]
    return flags


def plan(config, facts: HostFacts, image_id: str = "", supervisor_digest: str = "") -> ContainerSpec:
    """The container devbox runs for `config` on an engine described by `facts`.

    `image_id` and `supervisor_digest` go into the config hash, so a rebuilt image or a changed
    supervisor recreates the container.
    """
    bind = sync_mode(config, facts) == "bind"
    user = config.user
    if user is None and bind and facts.uid is not None:
        user = f"{facts.uid}:{facts.gid}"
    env = dict(config.env_dict())
    env.setdefault("PYTHONUNBUFFERED", "1")
    # Bytecode caches stay out of the user's tree; HOME exists for a uid with no passwd entry.
    env.setdefault("PYTHONPYCACHEPREFIX", "/tmp/devbox-pycache")
    env.setdefault("HOME", "/tmp")
    if not config.app:
        # A command's child caches bytecode keyed on whole-second mtimes: two same-size saves in
        # one second would serve the old code. The app child guards itself (supervisor.bytecode).
        env.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    spec = ContainerSpec(
        name=f"{config.name}-devbox",
        image=config.image_tag,
        command=supervisor_command(app=config.app, command=config.command, port=config.app_port,
                                   listen=config.listen, grace=config.stop_grace, warm=config.reload.warm,
                                   overlap=config.reload.overlap, preload=config.preload),
        workdir=config.workdir,
        bind_source=str(config.root) if bind else None,
        # Behind an ssh forward the engine publishes on its own loopback at ports it picks: the
        # ports devbox.yml names are taken on this machine, by the forward.
        ports=tuple((p.container_port, "127.0.0.1", 0) if facts.forward else (p.container_port, p.host_ip, p.host_port)
                    for p in config.ports),
        forwards=tuple((p.host_ip, p.host_port, p.container_port) for p in config.ports) if facts.forward else (),
        env=tuple(sorted(env.items())),
        user=user,
        stop_timeout=int(config.stop_grace) + 2,
    )
    digest = config_hash(spec, image_id, supervisor_digest)
    labels = (
        (LABEL_HASH, digest),
        (LABEL_PROJECT, config.name),
        (LABEL_ROOT, str(config.root)),
        (LABEL_VERSION, __version__),
    )
    return replace(spec, labels=labels, config_hash=digest)


def config_hash(spec: ContainerSpec, image_id: str = "", supervisor_digest: str = "") -> str:
    """What decides recreate-or-reuse (compose's convention): the spec, the image, the supervisor."""
    payload = asdict(spec)
    payload.pop("labels")
    payload.pop("config_hash")
    payload.pop("forwards")
    payload["image_id"] = image_id
    payload["supervisor"] = supervisor_digest
    blob = json.dumps(payload, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
