"""devbox.yml -> frozen dataclasses.

The file is read as a located YAML tree (:mod:`.tree`, not plain Python values) so that every
error can name the file, the line and the key path: ``devbox.yml:4: unknown key 'port' (did you
mean 'ports'?)``. Values are interpolated from the environment the way docker compose does
(:mod:`.interpolate`: ``${VAR}``, ``${VAR:-default}``, ``$$``), then read through the schema
(:mod:`.schema`: each key's rule, default and doc, declared once; :mod:`.builders` for what
depends on several keys) into the model (:mod:`.model`),
so that ``app: pkg.mod:app`` alone is a complete file. The name rule is in :mod:`.names`.

Where there is no devbox.yml, a project's `.devcontainer/devcontainer.json` is read instead
(:mod:`devbox.devcontainer`); `Config.source` says which kind of file a Config came from.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Optional

from devbox.config import builders, tree
from devbox.config.model import (
    COMPOSE_FILE_NAMES, CONFIG_NAME, DEFAULT_DEBOUNCE_MS, DEFAULT_DOCKERFILE, DEFAULT_IMAGE,
    DEFAULT_NO_RELOAD, DEFAULT_PORT, DEFAULT_REBUILD, DEFAULT_STOP_GRACE, DEFAULT_WORKDIR,
    HOOK_MOMENTS, LISTEN_MODES, SYNC_MODES, Build, Compose, Config, ContainerOptions, Forward, Hook,
    Hooks, Mount, PortMapping, Reload, Service, Watch,
)  # fmt: skip
from devbox.config.names import sanitize_name
from devbox.config_file import find_config, is_devcontainer
from devbox.config.values import default_listen
from devbox.errors import ConfigError

__all__ = [
    "COMPOSE_FILE_NAMES", "CONFIG_NAME", "DEFAULT_DEBOUNCE_MS", "DEFAULT_DOCKERFILE", "DEFAULT_IMAGE",
    "DEFAULT_NO_RELOAD", "DEFAULT_PORT", "DEFAULT_REBUILD", "DEFAULT_STOP_GRACE", "DEFAULT_WORKDIR",
    "HOOK_MOMENTS", "LISTEN_MODES", "SYNC_MODES", "Build", "Compose", "Config", "ContainerOptions",
    "Forward", "Hook", "Hooks", "Mount", "PortMapping", "Reload", "Service", "Watch", "default_listen",
    "find_config", "load", "parse", "sanitize_name",
]  # fmt: skip


def load(
    path: Optional[Path] = None,
    *,
    cwd: Optional[Path] = None,
    environ: Optional[Mapping[str, str]] = None,
) -> Config:
    """Read and validate a devbox.yml, or a devcontainer.json (a `.json` path). Without `path`,
    search upward from `cwd`.

    A relative `path` is taken relative to `cwd` (default: the process's working directory) and
    error messages show it as given; a found or absolute path is shown relative to `cwd` when it
    is below it.
    """
    cwd = Path(os.path.abspath(cwd if cwd is not None else Path.cwd()))
    if path is None:
        path = find_config(cwd)
    path = Path(path)
    full = path if path.is_absolute() else cwd / path
    display = _display_name(path, cwd)
    try:
        text = full.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no such file", "check the path, or run `devbox init`", file=display) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not a file", "pass the path of a devbox.yml or devcontainer.json", file=display) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"is not UTF-8 text ({exc.reason})", "save it as UTF-8", file=display) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", "check its permissions", file=display) from None
    if is_devcontainer(full):
        from devbox import devcontainer  # only for a devcontainer.json: ~10 ms of imports otherwise

        return devcontainer.parse(text, full, display=display, environ=environ)
    return parse(text, full, display=display, environ=environ)


def parse(
    text: str,
    path: Path,
    *,
    display: Optional[str] = None,
    environ: Optional[Mapping[str, str]] = None,
) -> Config:
    """Validate the text of a devbox.yml that lives at `path` (its directory is the project
    root, used for defaults and path checks). `display` names the file in errors."""
    path = Path(os.path.abspath(path))
    display = display if display is not None else path.name
    environ = os.environ if environ is None else environ
    top = tree.read(text, display, environ, root=path.parent.resolve())
    if top is None:
        raise ConfigError("the file is empty", "add at least `app: module:callable`", file=display, line=1)
    return builders.build_config(top, path)


def _display_name(path: Path, cwd: Path) -> str:
    if not path.is_absolute():
        return str(path)
    try:
        return str(path.relative_to(cwd))
    except ValueError:
        return str(path)
