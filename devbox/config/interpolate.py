"""`${VAR}`, `${VAR:-default}` and `$$` in devbox.yml values, as docker compose reads them.

Hand-written because no library implements compose's grammar (the `:-`, `-`, `:?`, `?`, `:+`, `+`
operators, nested defaults, `$$`). It knows nothing about files: the located tree
(:mod:`devbox.config.tree`) calls it once per scalar and turns an :class:`InterpolationError`
into a ConfigError that names the file, line and key.
"""

from __future__ import annotations

import re
from typing import Callable, Mapping, Optional

HINT = "write ${VAR}, ${VAR:-default} or $VAR; $$ is a literal $"
_VAR_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPERATORS = (":-", ":?", ":+", "-", "?", "+")


class InterpolationError(Exception):
    def __init__(self, problem: str, hint: str = HINT):
        super().__init__(problem)
        self.problem = problem
        self.hint = hint


class Interpolator:
    """Expands variables from `environ`; `unset(name)` is called for each plain `$VAR` or
    `${VAR}` that is not set (it becomes ""), so the caller can warn."""

    def __init__(self, environ: Mapping[str, str], unset: Callable[[str], None]):
        self.environ = environ
        self.unset = unset

    def __call__(self, text: str) -> str:
        if "$" not in text:
            return text
        out = []
        i = 0
        while True:
            j = text.find("$", i)
            if j < 0:
                out.append(text[i:])
                return "".join(out)
            out.append(text[i:j])
            following = text[j + 1 : j + 2]
            if following == "$":
                out.append("$")
                i = j + 2
            elif following == "{":
                end = _closing_brace(text, j + 2)
                if end < 0:
                    raise InterpolationError(f"'{text[j:]}' has no closing brace")
                out.append(self._expand(text[j + 2 : end]))
                i = end + 1
            else:
                match = _VAR_RE.match(text, j + 1)
                if not match:
                    raise InterpolationError(f"a '$' in {text!r} starts no variable")
                out.append(self._lookup(match.group(), warn=True) or "")
                i = match.end()

    def _expand(self, expression: str) -> str:
        match = _VAR_RE.match(expression)
        if not match:
            raise InterpolationError(f"'${{{expression}}}' is not a variable")
        name, rest = match.group(), expression[match.end() :]
        if not rest:
            return self._lookup(name, warn=True) or ""
        value = self._lookup(name, warn=False)
        for operator in _OPERATORS:
            if rest.startswith(operator):
                argument = rest[len(operator) :]
                break
        else:
            raise InterpolationError(f"'${{{expression}}}' is not a valid substitution")
        is_set = value is not None if ":" not in operator else bool(value)
        if operator.endswith("-"):
            return value if is_set else self(argument)
        if operator.endswith("+"):
            return self(argument) if is_set else ""
        if not is_set:  # the "?" forms: a required variable
            reason = self(argument) or "it is not set"
            raise InterpolationError(f"needs {name}: {reason}", f"set {name} in the environment")
        return value

    def _lookup(self, name: str, *, warn: bool) -> Optional[str]:
        value = self.environ.get(name)
        if value is None and warn:
            self.unset(name)
        return value


def _closing_brace(text: str, start: int) -> int:
    """Index of the "}" that closes a "${" opened just before `start` (defaults may nest)."""
    depth = 1
    i = start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1
