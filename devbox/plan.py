"""Pure planning: a Config becomes a ContainerSpec. No I/O here, so it is tested without Docker."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Mapping, Optional, Tuple

from devbox import __version__, gate, hooks, supervisor_argv
from devbox.config.model import ContainerOptions
from devbox.container_env import default_env
from devbox.injected import SUPERVISOR_LAUNCHER, SUPERVISOR_ROOT, launch_argv  # noqa: F401 - re-exported
from devbox.stop_timeout import stop_timeout
from devbox.supervisor.protocol import STOP_SIGNALS
from devbox.live import LIVE_LABEL, live_label
from devbox.paths import STATE_DIR
from devbox.urls import http_url, url_host  # noqa: F401 - url_host re-exported

LABEL_PROJECT = "devbox.project"
LABEL_HASH = "devbox.config-hash"
LABEL_ROOT = "devbox.root"
LABEL_VERSION = "devbox.version"
LABEL_LIVE = LIVE_LABEL  # where devbox's live-reload proxy serves the container's ports


@dataclass(frozen=True)
class HostFacts:
    """What planning needs to know about the host and engine, gathered by the caller."""

    uid: Optional[int] = None  # None where uid:gid mapping makes no sense (not Linux)
    gid: Optional[int] = None
    remote: bool = False  # the engine cannot see the host's files
    forward: bool = False  # published ports are reached through an ssh forward (ssh:// engine)
    # devbox's live-reload proxy can reach the published ports from here (a local engine, or an
    # ssh forward): it then takes the host ports devbox.yml names (devbox/live/).
    live: bool = False


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
    stop_signal: str = STOP_SIGNALS[0]
    stop_timeout: int = 10
    config_hash: str = field(default="", compare=False)
    # (local_ip, local_port, container_port) forwarded over ssh to the ports the engine publishes
    # on its own loopback; not part of the config hash (the container does not depend on them).
    forwards: Tuple[Tuple[str, int, int], ...] = field(default=(), compare=False)
    mounts: Tuple[Tuple[str, str, str, bool], ...] = ()  # (type, source, target, read_only), beside the project's
    workspace: Optional[Tuple[str, str, str, bool]] = None  # replaces the project's own bind mount
    options: ContainerOptions = ContainerOptions()
    # The host uid:gid that `user`'s account gets in the container (updateRemoteUserUID), or None.
    user_uid: Optional[Tuple[int, int]] = None
    gated: bool = False  # the supervisor waits for the lifecycle commands (devbox.gate)
    # (host_ip, host_port, container_port) devbox's live-reload proxy listens on, in front of the
    # port the container publishes on 127.0.0.1 (or the ssh forward's local end); in the config
    # hash, so a moved port gives a container whose devbox.live label says where it is served.
    live: Tuple[Tuple[str, int, int], ...] = ()
    # The host copy of the supervisor's files (injected.write_copy), mounted read-only at
    # SUPERVISOR_ROOT where the project is bind-mounted; None: put_archive before the start.
    supervisor_dir: Optional[str] = None

    @property
    def sync(self) -> str:
        return "bind" if self.bind_source else "copy"

    def event_view(self) -> dict:
        """What an event shows of it (devbox events): not its env, which may hold secrets."""
        return {"name": self.name, "image": self.image, "sync": self.sync, "urls": list(self.urls)}

    @property
    def urls(self) -> Tuple[str, ...]:
        if self.live:
            return tuple(http_url(ip, port) for ip, port, _ in self.live)
        if self.forwards:
            return tuple(http_url(ip, port) for ip, port, _ in self.forwards)
        return tuple(http_url(ip, host_port) for _, ip, host_port in self.ports)

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
        options = self.options.create_kwargs()
        kwargs["labels"] = {**options.pop("labels", {}), **kwargs["labels"]}  # devbox's own labels win
        kwargs.update(options)
        mounts = self.mounts
        if self.bind_source and self.workspace:
            mounts = (self.workspace,) + mounts
        elif self.bind_source:
            kwargs["volumes"] = {self.bind_source: {"bind": self.workdir, "mode": "rw"}}
        if self.supervisor_dir:
            mounts = mounts + (("bind", self.supervisor_dir, SUPERVISOR_ROOT, True),)
        if mounts:
            kwargs["mounts"] = [_mount(*mount) for mount in mounts]
        if self.user:
            kwargs["user"] = self.user
        return kwargs


def _mount(type: str, source: str, target: str, read_only: bool) -> dict:
    """The engine's Mount object (what docker.types.Mount builds), so planning needs no docker."""
    mount = {"Type": type, "Target": target, "ReadOnly": read_only}
    if source:
        mount["Source"] = source
    return mount


def supervisor_copy(config) -> Path:
    """Where a bind-mounted project's container finds the supervisor's files on the host: in the
    project's state dir (readable by whoever may read the project, which the container must)."""
    return Path(config.root) / STATE_DIR / "supervisor"


def sync_mode(config, facts: HostFacts) -> str:
    """bind or copy: `auto` binds a local engine's mount and copies to a remote one."""
    if config.sync == "auto":
        return "copy" if facts.remote else "bind"
    return config.sync


def supervisor_command(**options) -> Tuple[str, ...]:
    """The container's command: the injected supervisor running the app or the user's command
    (options: those of supervisor_argv.supervisor_args)."""
    return launch_argv() + supervisor_argv.supervisor_args(**options)


def plan(config, facts: HostFacts, image_id: str = "", supervisor_digest: str = "",
         image_env: Optional[Mapping[str, str]] = None) -> ContainerSpec:
    """The container devbox runs for `config` on an engine described by `facts`.

    `image_id` and `supervisor_digest` go into the config hash, so a rebuilt image or a changed
    supervisor recreates the container. `image_env` (the image's own environment) gives
    `${containerEnv:NAME}` its value.
    """
    bind = sync_mode(config, facts) == "bind"
    user = config.user
    if user is None and bind and facts.uid is not None:
        user = f"{facts.uid}:{facts.gid}"
    env = {**default_env(app=bool(config.app)), **config.env_dict()}
    if image_env is not None:  # only when a value names ${containerEnv:...} (devcontainer.json's)
        from devbox.devcontainer.variables import resolve_container_env

        env = {key: resolve_container_env(value, image_env) for key, value in env.items()}
    gated = hooks.gated(config)
    live = facts.live and config.live_reload and bool(config.ports)
    spec = ContainerSpec(
        name=f"{config.name}-devbox",
        image=config.image_tag,
        command=(gate.launch_argv() if gated else launch_argv()) + supervisor_argv.for_config(config, port=config.app_port),
        workdir=config.workdir,
        bind_source=str(config.root) if bind else None,
        # Behind an ssh forward the engine publishes on its own loopback at ports it picks: the
        # ports devbox.yml names are taken on this machine, by the forward.
        ports=tuple((p.container_port, "127.0.0.1", 0) if facts.forward or live
                    else (p.container_port, p.host_ip, p.host_port) for p in config.ports),
        forwards=tuple((p.host_ip, p.host_port, p.container_port) for p in config.ports) if facts.forward else (),
        env=tuple(sorted(env.items())),
        user=user,
        stop_timeout=stop_timeout(config.stop_grace),
        mounts=tuple(_mount_tuple(m) for m in config.mounts),
        workspace=_mount_tuple(config.workspace_mount) if config.workspace_mount else None,
        options=config.options,
        user_uid=user_uid(config, user, bind, facts),
        gated=gated,
        live=tuple((p.host_ip, p.host_port, p.container_port) for p in config.ports) if live else (),
        supervisor_dir=str(supervisor_copy(config)) if bind else None,
    )
    digest = config_hash(spec, image_id, supervisor_digest)
    labels = (
        (LABEL_HASH, digest),
        (LABEL_PROJECT, config.name),
        (LABEL_ROOT, str(config.root)),
        (LABEL_VERSION, __version__),
    ) + (((LABEL_LIVE, live_label(spec.live)),) if spec.live else ())
    return replace(spec, labels=labels, config_hash=digest)


def _mount_tuple(mount) -> Tuple[str, str, str, bool]:
    return (mount.type, mount.source, mount.target, mount.read_only)


def user_uid(config, user: Optional[str], bind: bool, facts: HostFacts) -> Optional[Tuple[int, int]]:
    """The host uid:gid to give `user`'s account (updateRemoteUserUID): only for a named user
    other than root, a bind mount and a Linux host, where files written through the mount then
    belong to the host user."""
    if not (config.update_remote_user_uid and bind and facts.uid is not None and user):
        return None
    name = user.partition(":")[0]
    if name in ("root", "0") or name.isdigit():
        return None
    return (facts.uid, facts.gid)


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
