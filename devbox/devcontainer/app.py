"""What a devcontainer.json serves: the app or command of `customizations.devbox` (or the app
found in the project, as `devbox init` finds it), and for a dockerComposeFile config the compose
project, its supervised `service` on the port first forwarded for it.

A mixin of devbox.devcontainer.mapping._Mapping: it reads the mapping's keys and fills its
devbox.yml-shaped keys and extra Config fields.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from devbox.config.schema import TOP
from devbox.config.tree import Node
from devbox.devcontainer.nodes import _mapping, _node

_SERVE_HINT = 'add "customizations": {"devbox": {"app": "module:callable"}} (or "command": "uvicorn main:app --fd 3")'


class AppMapping:
    """The serving half of a devcontainer mapping (see the module docstring)."""

    def _customizations(self) -> dict[str, Node]:
        node = self.keys.get("customizations")
        if node is None:
            return {}
        if not isinstance(node.value, dict):
            raise node.error(f"must be an object, got {node.describe()}")
        others = [tool for tool in node.value if tool != "devbox"]
        if others:
            self.warn(node, f"customizations for {', '.join(others)} are skipped: devbox reads customizations.devbox")
        devbox = node.value.get("devbox")
        return {} if devbox is None else devbox.mapping(TOP.names, extensions=True)

    def _detected_app(self) -> Node:
        app = detect_app(self.root)
        if app is None:
            raise self.top.error(f"says nothing devbox can serve, and no app was found in {self.root}", _SERVE_HINT)
        self.warn(self.top, f"serving {app}, found in the project; set customizations.devbox.app to choose")
        return _node(app, self.top, path="customizations.devbox.app")

    def service_name(self) -> str:
        node = self.keys.get("service")
        if node is None:
            raise self.keys["dockerComposeFile"].error("needs `service`: the compose service devbox supervises", 'e.g. "service": "web"')
        return node.nonempty_text()

    def _compose(self, devbox: dict[str, Node]) -> None:
        """The compose project: the files, and the named service supervised with the app of
        customizations.devbox (or the detected one), on the port first forwarded for it."""
        files_node = self.keys["dockerComposeFile"]
        files = [(self.folder / item.nonempty_text()).resolve() for item in files_node.items()]
        if not files:
            raise files_node.error("lists no file", 'e.g. "dockerComposeFile": "../docker-compose.yml"')
        name = self.service_name()
        service = {key: devbox.pop(key) for key in ("app", "command", "listen") if key in devbox}
        if "app" not in service and "command" not in service:
            service["app"] = self._detected_app()
        if "env" in self.out:
            service["env"] = self.out.pop("env")
        port = next((f.port for f in self.extra["forwards"] if f.service == name), None)
        if port is not None:
            service["port"] = _node(port, files_node, path="forwardPorts")
        service_node = _mapping(service, self.keys["service"])
        compose = {
            "file": _node(os.path.relpath(files[0], self.root), files_node),
            "services": Node({name: service_node}, service_node.line, "service", self.ctx, key_lines={name: service_node.line}),
        }
        self.out["compose"] = _mapping(compose, files_node)
        run = self.keys.get("runServices")
        self.extra["compose_extra"] = {
            "overrides": tuple(files[1:]),
            "run_services": None if run is None else tuple(item.nonempty_text() for item in run.items()),
        }


def detect_app(root: Path) -> Optional[str]:
    """The app `devbox init` would write for `root`, when the module it names exists. The one
    call of devbox init's detection from here, so a better detection is used as it comes."""
    from devbox import scaffold  # scaffold imports config, which imports this module

    app = scaffold.find_app(root).app
    if not app:
        return None
    module = Path(*app.partition(":")[0].split("."))
    if (root / module.with_suffix(".py")).is_file() or (root / module / "__init__.py").is_file():
        return app
    return None
