"""The located tree: devbox.yml as YAML nodes that remember their line and key path.

PyYAML's composer gives nodes with marks; :class:`Context` turns them into :class:`Node` values
(mappings of Node, lists of Node, interpolated scalars) so that every later check can say
``devbox.yml:4: watch.paths[0] ...``. Only YAML's plain types are accepted; a colon in a number
(YAML 1.1's base 60) keeps it a string.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import yaml

from devbox.config.interpolate import InterpolationError, Interpolator
from devbox.errors import ConfigError, location

_INT_RE = re.compile(r"[+-]?[0-9]+")
_STR_TAG = "tag:yaml.org,2002:str"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_NULL_TAG = "tag:yaml.org,2002:null"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """A hint naming the closest of `choices`, or ""."""
    close = difflib.get_close_matches(word, choices, n=1)
    return f"did you mean '{close[0]}'?" if close else ""


def read(text: str, display: str, environ: Mapping[str, str], root: Path) -> Optional[Node]:
    """The located tree of `text` (None for an empty document); warnings collect in its ctx."""
    ctx = Context(display, environ, root)
    try:
        document = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        raise ctx.yaml_error(exc) from None
    except yaml.YAMLError as exc:  # pragma: no cover - every PyYAML parse error carries a mark
        raise ConfigError(f"invalid YAML: {exc}", "check indentation and quoting", file=display) from None
    return None if document is None else ctx.convert(document, "")


class Node:
    """A converted YAML node: `value` is a dict of Node, a list of Node or a scalar."""

    __slots__ = ("value", "line", "path", "ctx", "key_lines", "raw")

    def __init__(self, value: Any, line: int, path: str, ctx: Context, key_lines=None, raw=None):
        self.value = value
        self.line = line
        self.path = path
        self.ctx = ctx
        self.key_lines: dict[str, int] = key_lines or {}
        self.raw: Optional[str] = raw  # scalar text as written, before interpolation

    def error(self, problem: str, hint: str = "") -> ConfigError:
        """An error about this value: `problem` follows its key path."""
        subject = f"{self.path} " if self.path else ""
        return self.ctx.error(self.line, f"{subject}{problem}", hint, key=self.path)

    def key_error(self, key: str, problem: str, hint: str = "") -> ConfigError:
        """An error about one of this mapping's keys, on the key's line."""
        return self.ctx.error(self.key_lines[key], problem, hint, key=self.child_path(key))

    def child_path(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def describe(self) -> str:
        """The value as a user would recognise it in an error message."""
        value = self.value
        if isinstance(value, dict):
            return "a mapping"
        if isinstance(value, list):
            return "a list"
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            return repr(value)
        return str(value)

    # -- shapes --------------------------------------------------------------------------------

    def mapping(self, allowed: Sequence[str], *, extensions: bool = False) -> dict[str, Node]:
        """The children of a mapping with only `allowed` keys (null counts as empty).
        `extensions` allows compose-style `x-...` keys, which are skipped."""
        if self.value is None:
            return {}
        if not isinstance(self.value, dict):
            raise self.error(f"must be a mapping, got {self.describe()}", f"valid keys: {', '.join(allowed)}")
        children = {}
        for key, child in self.value.items():
            if extensions and key.startswith("x-"):
                continue
            if key not in allowed:
                full = self.child_path(key)
                hint = did_you_mean(key, allowed) or f"valid keys: {', '.join(allowed)}"
                raise self.key_error(key, f"unknown key '{full}'", hint)
            children[key] = child
        return children

    def items(self) -> list[Node]:
        """The items of a list; a single scalar counts as a one-item list, null as empty."""
        if self.value is None:
            return []
        if isinstance(self.value, list):
            return self.value
        if isinstance(self.value, dict):
            raise self.error("must be a list, got a mapping")
        return [self]

    # -- scalars -------------------------------------------------------------------------------

    def text(self, *, numbers: bool = False) -> str:
        """A string. With `numbers`, a number or boolean is accepted as written (like compose
        does for environment values: `DEBUG: 1` is "1")."""
        if isinstance(self.value, str):
            return self.value
        if numbers and self.value is not None and not isinstance(self.value, (dict, list)):
            return self.raw if self.raw is not None else str(self.value)
        raise self.error(f"must be a string, got {self.describe()}")

    def nonempty_text(self, **kw) -> str:
        value = self.text(**kw)
        if not value.strip():
            raise self.error("must not be empty")
        return value

    def integer(self, minimum: int, maximum: Optional[int] = None) -> int:
        value = self.value
        if isinstance(value, str) and _INT_RE.fullmatch(value.strip()):
            value = int(value)  # e.g. from ${PORT:-8000}
        bound = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"
        ok = isinstance(value, int) and not isinstance(value, bool)
        if not ok or value < minimum or (maximum is not None and value > maximum):
            raise self.error(f"must be an integer {bound}, got {self.describe()}")
        return value

    def number(self, minimum: float) -> float:
        value = self.value
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok or value != value or value < minimum:
            raise self.error(f"must be a number >= {minimum:g}, got {self.describe()}")
        return float(value)

    def boolean(self) -> bool:
        value = self.value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            value = value.strip().lower() == "true"  # e.g. from ${WARM:-true}
        if not isinstance(value, bool):
            raise self.error(f"must be true or false, got {self.describe()}")
        return value

    def choice(self, choices: Sequence[str]) -> str:
        value = self.value
        if value not in choices:
            hint = did_you_mean(value, choices) if isinstance(value, str) else ""
            raise self.error(f"must be one of {', '.join(choices)}, got {self.describe()}", hint)
        return value


class Context:
    """What every node needs: how to name the file, where variables come from, where warnings go."""

    def __init__(self, display: str, environ: Mapping[str, str], root: Path):
        self.display = display
        self.root = root
        self.warnings: list[str] = []
        self._warned: set[str] = set()
        self._constructor = yaml.constructor.SafeConstructor()
        self._active: set[int] = set()
        self._interpolate = Interpolator(environ, self._unset)
        self._where = (0, "")  # the scalar being interpolated, for the unset-variable warning

    def error(self, line: Optional[int], problem: str, hint: str = "", *, key: str = "") -> ConfigError:
        return ConfigError(problem, hint, file=self.display, line=line, key=key)

    def convert(self, node: yaml.Node, path: str) -> Node:
        line = node.start_mark.line + 1
        if id(node) in self._active:
            raise self.error(line, f"{path} refers to itself (recursive alias)", key=path)
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._convert_mapping(node, path, line)
            if isinstance(node, yaml.SequenceNode):
                items = [self.convert(item, f"{path}[{i}]") for i, item in enumerate(node.value)]
                return Node(items, line, path, self)
            return self._convert_scalar(node, path, line)
        finally:
            self._active.discard(id(node))

    def _convert_mapping(self, node: yaml.MappingNode, path: str, line: int) -> Node:
        try:
            self._constructor.flatten_mapping(node)  # resolves `<<: *anchor` merge keys
        except yaml.MarkedYAMLError as exc:
            raise self.yaml_error(exc) from None
        children: dict[str, Node] = {}
        key_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _NULL_TAG:
                where = f"in {path} " if path else ""
                raise self.error(key_line, f"{where}a key must be a plain name", key=path)
            key = key_node.value  # as written: `1:` is "1", `yes:` is "yes"
            child_path = f"{path}.{key}" if path else key
            if key in children:
                hint = f"it is already set on line {key_lines[key]}"
                raise self.error(key_line, f"duplicate key '{child_path}'", hint, key=child_path)
            children[key] = self.convert(value_node, child_path)
            key_lines[key] = key_line
        return Node(children, line, path, self, key_lines=key_lines)

    def _convert_scalar(self, node: yaml.ScalarNode, path: str, line: int) -> Node:
        tag, raw = node.tag, node.value
        if tag == _STR_TAG or tag == _TIMESTAMP_TAG or (tag in (_INT_TAG, _FLOAT_TAG) and ":" in raw):
            # Dates stay text, and YAML 1.1's base-60 numbers (8001:50 -> 480050) are a trap:
            # whoever writes a colon means a string.
            self._where = (line, path)
            try:
                value = self._interpolate(raw)
            except InterpolationError as exc:
                raise self.error(line, f"{path} {exc.problem}", exc.hint, key=path) from None
        elif tag in (_INT_TAG, _FLOAT_TAG, _BOOL_TAG, _NULL_TAG):
            value = self._constructor.construct_object(node)
        else:
            raise self.error(line, f"{path} has an unsupported YAML tag {tag!r}", "remove the tag", key=path)
        return Node(value, line, path, self, raw=raw)

    def _unset(self, name: str) -> None:
        if name not in self._warned:
            self._warned.add(name)
            line, path = self._where
            self.warnings.append(f"{location(self.display, line)}{path}: {name} is not set, using an empty string")

    def yaml_error(self, exc: yaml.MarkedYAMLError) -> ConfigError:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        hint = "YAML indents with spaces, not tabs" if "\\t" in problem else "check indentation and quoting"
        if mark is None:  # pragma: no cover
            return self.error(None, f"invalid YAML: {problem}", hint)
        return self.error(mark.line + 1, f"invalid YAML: {problem} (column {mark.column + 1})", hint)
