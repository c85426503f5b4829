"""devcontainer.json (the Development Containers spec) read as a devbox config.

Where a project has no devbox.yml, devbox reads its `.devcontainer/devcontainer.json`:
:mod:`.jsonc` reads the file into located nodes, :mod:`.variables` resolves the spec's
`${localEnv:...}` and workspace-folder variables, and :mod:`.mapping` translates the keys onto
devbox's Config. :func:`candidates` is where the spec says to look.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Optional

from devbox.config.tree import Context
from devbox.devcontainer import jsonc, mapping
from devbox.devcontainer.mapping import SOURCE, workspace_folder
from devbox.errors import ConfigError

__all__ = ["SOURCE", "candidates", "find", "is_devcontainer", "parse", "translate", "workspace_folder"]


def candidates(directory: Path) -> list[Path]:
    """The devcontainer.json files of a project folder, in the spec's order: the usual
    `.devcontainer/devcontainer.json`, a `.devcontainer.json` beside it, then one per subfolder
    (`.devcontainer/NAME/devcontainer.json`, sorted)."""
    found = [path for path in (directory / ".devcontainer" / SOURCE, directory / ".devcontainer.json") if path.is_file()]
    named = directory / ".devcontainer"
    if named.is_dir():
        found += sorted(path for path in named.glob(f"*/{SOURCE}") if path.is_file())
    return found


def find(directory: Path) -> Optional[Path]:
    """The devcontainer.json of `directory`, if it has one. The usual places win over named
    subfolders; several named ones and none usual is an error that lists them."""
    found = candidates(directory)
    if not found:
        return None
    usual = [path for path in found if path.parent.parent != directory / ".devcontainer"]
    if usual or len(found) == 1:
        return found[0]
    listed = ", ".join(str(path.relative_to(directory)) for path in found)
    raise ConfigError(f"several devcontainer configs in {directory}: {listed}", "pick one with -f PATH")


def is_devcontainer(path: Path) -> bool:
    """Whether a config file named on the command line is read as devcontainer.json."""
    return path.suffix in (".json", ".jsonc")


def parse(text: str, path: Path, *, display: Optional[str] = None, environ: Optional[Mapping[str, str]] = None):
    """The Config of the devcontainer.json at `path` (`display` names it in errors)."""
    return translate(text, path, display=display, environ=environ).config()


def translate(text: str, path: Path, *, display: Optional[str] = None, environ: Optional[Mapping[str, str]] = None):
    """The translation of the devcontainer.json at `path` (see :func:`mapping.translate`)."""
    path = Path(os.path.abspath(path))
    display = display if display is not None else path.name
    environ = os.environ if environ is None else environ
    ctx = Context(display, environ, workspace_folder(path).resolve())
    top = jsonc.read(text, ctx)
    if top is None:
        raise ConfigError("the file is empty", 'add at least {"image": "python:3.12-slim"}', file=display, line=1)
    return mapping.translate(top, path, environ)
