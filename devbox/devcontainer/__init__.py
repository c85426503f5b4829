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
from devbox.config_file import devcontainer_candidates, find_devcontainer, is_devcontainer
from devbox.devcontainer import jsonc, mapping
from devbox.devcontainer.mapping import SOURCE, workspace_folder
from devbox.errors import ConfigError

__all__ = ["SOURCE", "candidates", "find", "is_devcontainer", "parse", "translate", "workspace_folder"]


# Where the spec says to look: in devbox.config_file, with the rest of "where is the config".
candidates = devcontainer_candidates
find = find_devcontainer


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
