"""The `${...}` variables of devcontainer.json, resolved as the Dev Containers spec says
(containers.dev, devcontainer.json reference, "Variables in devcontainer.json"):

- `${localEnv:NAME}`: the host's environment variable, "" when unset ("unset variables are left
  blank": no warning, since `${localEnv:HOME}${localEnv:USERPROFILE}` is the spec's own idiom);
  `${localEnv:NAME:default}` gives a default. `${env:NAME}` is the older spelling of the same.
- `${localWorkspaceFolder}` and `${localWorkspaceFolderBasename}`: the host folder that holds
  `.devcontainer/`, and its name.
- `${containerWorkspaceFolder}` and `${containerWorkspaceFolderBasename}`: `workspaceFolder`
  (itself resolved first, without these two), and its last component.
- `${containerEnv:NAME}` and `${containerEnv:NAME:default}` (only meaningful in `remoteEnv`):
  the container's own environment, known once the image is: they are kept as written here and
  :func:`resolve_container_env` resolves them when the session has the image's environment.
- Anything else (`${devcontainerId}`, a typo) is left as written, as the reference CLI does.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Mapping, Optional

from devbox.config.tree import Node

_VARIABLE_RE = re.compile(r"\$\{([^{}]*)\}")


class Variables:
    """Resolves the host-side variables of one devcontainer.json. `container_folder` is None
    while `workspaceFolder` itself is being resolved."""

    def __init__(self, environ: Mapping[str, str], local_folder: Path, container_folder: Optional[str] = None):
        self.environ = environ
        self.local_folder = local_folder
        self.container_folder = container_folder

    def __call__(self, text: str) -> str:
        return _VARIABLE_RE.sub(self._replace, text) if "${" in text else text

    def _replace(self, match: re.Match) -> str:
        name, _, argument = match.group(1).partition(":")
        if name in ("localEnv", "env") and argument:
            variable, _, default = argument.partition(":")
            value = self.environ.get(variable)
            return value if value is not None else default
        if name == "localWorkspaceFolder" and not argument:
            return str(self.local_folder)
        if name == "localWorkspaceFolderBasename" and not argument:
            return self.local_folder.name
        if self.container_folder is not None and not argument:
            if name == "containerWorkspaceFolder":
                return self.container_folder
            if name == "containerWorkspaceFolderBasename":
                return posixpath.basename(self.container_folder.rstrip("/"))
        return match.group()

    def resolve_tree(self, node: Optional[Node]) -> None:
        """Resolve every string value under `node`, in place (keys are names, never resolved)."""
        if node is None:
            return
        if isinstance(node.value, dict):
            for child in node.value.values():
                self.resolve_tree(child)
        elif isinstance(node.value, list):
            for child in node.value:
                self.resolve_tree(child)
        elif isinstance(node.value, str):
            node.value = self(node.value)


def resolve_container_env(text: str, container_env: Mapping[str, str], *, keep_missing: bool = False) -> str:
    """`text` with `${containerEnv:NAME}` and `${containerEnv:NAME:default}` replaced from the
    container's environment (unset and no default: ""). For the session, which knows the image's
    environment; a value without the variable comes back unchanged. With `keep_missing`, a
    variable `container_env` lacks is kept as written (for what only the image knows)."""

    def replace(match: re.Match) -> str:
        name, _, argument = match.group(1).partition(":")
        if name != "containerEnv" or not argument:
            return match.group()
        variable, _, default = argument.partition(":")
        value = container_env.get(variable)
        if value is None and keep_missing:
            return match.group()
        return value if value is not None else default

    return _VARIABLE_RE.sub(replace, text) if "${" in text else text
