"""New located nodes in the place of the file's own: a value devbox derives from a
devcontainer.json key keeps that key's line, so an error about it names the line."""

from __future__ import annotations

from typing import Optional

from devbox.config.tree import Node


def _node(value, like: Node, path: Optional[str] = None) -> Node:
    """A new value in the place of `like`: errors about it name `like`'s line and key."""
    return Node(value, like.line, like.path if path is None else path, like.ctx, raw=like.raw)


def _mapping(children: dict[str, Node], like: Node) -> Node:
    return Node(children, like.line, like.path, like.ctx, key_lines={k: c.line for k, c in children.items()})
