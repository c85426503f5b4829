"""The override file devbox writes next to the user's compose file (pure: no Docker, no compose)."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Iterable, Mapping, Optional

from devbox import __version__, gate, hooks, injected, supervisor_argv
from devbox import plan as planning
from devbox.config.model import CONFIG_NAME
from devbox.compose.labels import LABEL_SERVICE, LABEL_SUPERVISOR
from devbox.container_env import default_env
from devbox.errors import ComposeError
from devbox.injected import launch_argv
from devbox.stop_timeout import stop_timeout
from devbox.supervisor import protocol


def _escape(value: str) -> str:
    """Compose interpolates $VAR in every file, the override too: keep devbox's values literal."""
    return value.replace("$", "$$")


def hooked_service(config) -> str:
    """The service the lifecycle commands run in: devcontainer.json's `service`, the first
    supervised one."""
    return config.compose.services[0].name


def hook_workdir(config) -> str:
    """Where the hooked service's app and commands run: devcontainer.json's workspaceFolder;
    "" (the service's own) for devbox.yml, whose compose services keep their working directory."""
    return config.workdir if config.source != CONFIG_NAME else ""


def gated(config, service) -> bool:
    """Whether `service`'s supervisor waits for the lifecycle commands (devbox.gate)."""
    return service.name == hooked_service(config) and hooks.gated(config)


def plan_override(config, user_services: Mapping[str, dict], supervisor_dir: Optional[Path],
                  supervisor_digest: str = "") -> dict:
    """The override file's content for `config`'s supervised services.

    `user_services` is the user's `services:` as `compose config` prints them (so the user's own
    environment wins over devbox's defaults). `supervisor_dir` is the host copy to bind-mount at
    SUPERVISOR_ROOT, or None when the files are copied into the containers (remote engine).
    """
    services = {}
    for service in config.compose.services:
        user_env = (user_services.get(service.name) or {}).get("environment") or {}
        if isinstance(user_env, list):  # compose v2 may print KEY=VALUE items
            user_env = dict(item.partition("=")[::2] for item in user_env)
        env = {key: value for key, value in default_env(app=bool(service.app)).items() if key not in user_env}
        env.update(service.env_dict())
        launcher = gate.launch_argv() if gated(config, service) else launch_argv()
        command = launcher + supervisor_argv.for_config(config, service, port=service.port)
        entry = {
            "command": [_escape(arg) for arg in command],
            "environment": {key: _escape(value) for key, value in env.items()},
            "labels": {
                planning.LABEL_PROJECT: config.name,
                LABEL_SERVICE: service.name,
                planning.LABEL_ROOT: _escape(str(config.root)),
                planning.LABEL_VERSION: __version__,
                # A changed supervisor changes the service's config, so compose recreates it.
                LABEL_SUPERVISOR: supervisor_digest,
            },
            "stop_signal": protocol.STOP_SIGNALS[0],
            "stop_grace_period": f"{stop_timeout(config.stop_grace)}s",
        }
        if hook_workdir(config):
            entry["working_dir"] = _escape(hook_workdir(config))
        if supervisor_dir is not None:
            entry["volumes"] = [f"{_escape(str(supervisor_dir))}:{injected.SUPERVISOR_ROOT}:ro"]
        services[service.name] = entry
    for forward in config.forwards:  # devcontainer.json's forwardPorts, for this machine only
        ports = services.setdefault(forward.service, {}).setdefault("ports", [])
        ports.append(f"{forward.host_ip}:{forward.published}:{forward.port}")
    return {"services": services}


def missing_services(config, user_services: Iterable[str], display: str) -> Optional[ComposeError]:
    """The error for the first service devbox.yml names that the compose file lacks, if any."""
    available = sorted(user_services)
    for service in config.compose.services:
        if service.name not in available:
            close = difflib.get_close_matches(service.name, available, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            return ComposeError(
                f"{config.path.name}: compose.services.{service.name}: {display} has no service '{service.name}'",
                f"{hint}its services: {', '.join(available) or 'none'}")
    return None
