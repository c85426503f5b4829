"""A devcontainer.json's ports onto devbox's: `appPort` and `forwardPorts` as container ports to
publish (for a dockerComposeFile config, a forward per service, "db:5432"), and the labels of
`portsAttributes`.

A mixin of devbox.devcontainer.mapping._Mapping: it reads the mapping's keys and fills its
ports and extra Config fields.
"""

from __future__ import annotations

from typing import Optional

from devbox.config import values
from devbox.config.model import Forward
from devbox.config.tree import Node
from devbox.devcontainer.nodes import _node


class PortsMapping:
    """The ports half of a devcontainer mapping (see the module docstring)."""

    def _ports(self) -> None:
        """appPort and forwardPorts: container ports to publish (compose: per service)."""
        forwards = []
        for key in ("appPort", "forwardPorts"):
            node = self.keys.get(key)
            if node is None:
                continue
            if key == "appPort" and self.compose:
                self.warn(node, "appPort is for image and build configs: publish ports in the compose file or list them in forwardPorts")
                continue
            for item in node.items():
                service, port = self._forward(item, key)
                if self.compose:
                    forwards.append(Forward(service or self.service_name(), port))
                else:
                    self.ports.append(item if key == "appPort" else _node(port, item))
        if self.compose:
            self.extra["forwards"] = tuple(dict.fromkeys(forwards))
        labels = self.keys.get("portsAttributes")
        if labels is not None:
            self.extra["port_labels"] = self._labels(labels)

    def _forward(self, item: Node, key: str) -> tuple[Optional[str], int]:
        """(service, port) of a forwardPorts item: 8000, "8000" or "db:5432"; an appPort item
        is kept whole for devbox's port rule (`"8001:8000"`)."""
        if key == "appPort":
            return None, values.port_mapping(item).container_port
        value = item.value
        if isinstance(value, str) and ":" in value:
            service, _, port = value.rpartition(":")
            if service in ("localhost", "127.0.0.1"):
                service = ""
            elif not self.compose:
                raise item.error(
                    f"{value!r} names the service {service!r}, but this is not a dockerComposeFile config",
                    "forward the container's own ports as numbers, e.g. 8000",
                )
            return service or None, values.port_number(item, port, original=value)
        if isinstance(value, int) and not isinstance(value, bool):
            return None, values.port_number(item, str(value))
        if isinstance(value, str):
            return None, values.port_number(item, value.strip())
        raise item.error(f"{item.describe()} is not a port", 'use 8000 or "service:5432"')

    def _labels(self, node: Node) -> tuple[tuple[str, str], ...]:
        if not isinstance(node.value, dict):
            raise node.error(f"must be an object of ports, got {node.describe()}")
        labels, others = [], set()
        for port, attributes in node.value.items():
            fields = attributes.mapping(("label", "onAutoForward", "protocol", "requireLocalPort", "elevateIfNeeded"))
            others.update(k for k in fields if k != "label")
            if "label" in fields and fields["label"].value is not None:
                labels.append((port, fields["label"].text()))
        if others:
            self.warn(node, f"portsAttributes {', '.join(sorted(others))}: VS Code's, skipped; devbox publishes forwardPorts as they are")
        return tuple(labels)
