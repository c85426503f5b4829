"""JSON with comments, as VS Code writes devcontainer.json: `//` and `/* */` comments, trailing
commas, and nothing else beyond JSON (no single quotes, no bare keys: what VS Code accepts).

Hand-written rather than taken from a library: `json5` and `commentjson` return plain dicts and
lists, so an error about a value could not name its line, and JSON5 accepts more than VS Code
does (single quotes, bare keys, hex numbers), so a file devbox took could fail elsewhere. A
recursive descent over one string is short and gives every value devbox's located
:class:`~devbox.config.tree.Node`, so the devbox.yml value rules work on it unchanged.
"""

from __future__ import annotations

import bisect
import re
from typing import Optional

from devbox.config.tree import Context, Node

_NUMBER_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_WORD_RE = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_LITERALS = {"true": True, "false": False, "null": None}
HINT = "devcontainer.json is JSON with // comments and trailing commas"


def read(text: str, ctx: Context) -> Optional[Node]:
    """The located tree of `text` (None when it holds only whitespace and comments). String
    values are kept as written, variables unresolved: see :mod:`.variables`."""
    return _Parser(text, ctx).document()


class _Parser:
    def __init__(self, text: str, ctx: Context):
        self.text = text[1:] if text.startswith("\ufeff") else text  # a BOM, as Windows editors write
        self.ctx = ctx
        self.i = 0
        self._newlines = [m.start() for m in re.finditer("\n", self.text)]

    # -- positions and errors ------------------------------------------------------------------

    def line(self, index: int) -> int:
        return bisect.bisect_left(self._newlines, index) + 1

    def column(self, index: int) -> int:
        return index - (self.text.rfind("\n", 0, index) + 1) + 1

    def fail(self, problem: str, index: Optional[int] = None, hint: str = HINT):
        index = self.i if index is None else index
        where = f"invalid JSON: {problem} (column {self.column(index)})"
        raise self.ctx.error(self.line(index), where, hint)

    def found(self) -> str:
        if self.i >= len(self.text):
            return "the end of the file"
        word = _WORD_RE.match(self.text, self.i)
        return repr(word.group() if word else self.text[self.i])

    # -- grammar -------------------------------------------------------------------------------

    def document(self) -> Optional[Node]:
        self.skip()
        if self.i >= len(self.text):
            return None
        node = self.value("")
        self.skip()
        if self.i < len(self.text):
            self.fail(f"unexpected {self.found()} after the top-level value", hint="remove it, or add a comma inside the braces")
        return node

    def skip(self) -> None:
        """Past whitespace and comments."""
        text = self.text
        while self.i < len(text):
            char = text[self.i]
            if char in " \t\r\n":
                self.i += 1
            elif text.startswith("//", self.i):
                end = text.find("\n", self.i)
                self.i = len(text) if end < 0 else end + 1
            elif text.startswith("/*", self.i):
                end = text.find("*/", self.i + 2)
                if end < 0:
                    self.fail("a /* comment is never closed", hint="close it with */")
                self.i = end + 2
            else:
                return

    def value(self, path: str) -> Node:
        self.skip()
        start = self.i
        char = self.text[start : start + 1]
        if char == "{":
            return self.obj(path)
        if char == "[":
            return self.array(path)
        if char == '"':
            return Node(self.string(), self.line(start), path, self.ctx, raw=self.text[start : self.i])
        number = _NUMBER_RE.match(self.text, start)
        if number and char in "-0123456789":
            self.i = number.end()
            raw = number.group()
            value = float(raw) if any(c in raw for c in ".eE") else int(raw)
            return Node(value, self.line(start), path, self.ctx, raw=raw)
        word = _WORD_RE.match(self.text, start)
        if word and word.group() in _LITERALS:
            self.i = word.end()
            return Node(_LITERALS[word.group()], self.line(start), path, self.ctx, raw=word.group())
        if char == "'":
            self.fail("strings take double quotes", hint='write "text", not \'text\'')
        self.fail(f"expected a value, got {self.found()}")

    def obj(self, path: str) -> Node:
        start = self.i
        self.i += 1
        children: dict[str, Node] = {}
        key_lines: dict[str, int] = {}
        while True:
            self.skip()
            if self.text.startswith("}", self.i):
                self.i += 1
                return Node(children, self.line(start), path, self.ctx, key_lines=key_lines)
            if not self.text.startswith('"', self.i):
                self.fail(f"expected a key in double quotes or '}}', got {self.found()}")
            key_at = self.i
            key = self.string()
            child_path = f"{path}.{key}" if path else key
            if key in children:
                raise self.ctx.error(
                    self.line(key_at), f"duplicate key '{child_path}'", f"it is already set on line {key_lines[key]}",
                    key=child_path,
                )
            self.skip()
            if not self.text.startswith(":", self.i):
                self.fail(f"expected ':' after the key \"{key}\", got {self.found()}")
            self.i += 1
            children[key] = self.value(child_path)
            key_lines[key] = self.line(key_at)
            self.after_item("}")

    def array(self, path: str) -> Node:
        start = self.i
        self.i += 1
        items: list[Node] = []
        while True:
            self.skip()
            if self.text.startswith("]", self.i):
                self.i += 1
                return Node(items, self.line(start), path, self.ctx)
            items.append(self.value(f"{path}[{len(items)}]"))
            self.after_item("]")

    def after_item(self, closing: str) -> None:
        """Past the comma after an item; a closing bracket may follow it (a trailing comma)."""
        self.skip()
        if self.text.startswith(",", self.i):
            self.i += 1
        elif not self.text.startswith(closing, self.i):
            self.fail(f"expected ',' or '{closing}', got {self.found()}", hint="a comma is missing before it")

    def string(self) -> str:
        start = self.i
        self.i += 1
        out = []
        text = self.text
        while True:
            end = self.i
            while end < len(text) and text[end] not in '"\\\n':
                end += 1
            out.append(text[self.i : end])
            self.i = end
            if end >= len(text) or text[end] == "\n":
                self.fail("a string is never closed", start, hint='close it with " on the same line; write \\n for a newline')
            if text[end] == '"':
                self.i = end + 1
                return "".join(out)
            out.append(self.escape())

    def escape(self) -> str:
        at = self.i
        char = self.text[at + 1 : at + 2]
        if char in _ESCAPES:
            self.i = at + 2
            return _ESCAPES[char]
        if char == "u":
            code = self.hex4(at)
            if 0xD800 <= code < 0xDC00 and self.text.startswith("\\u", self.i):
                low = self.hex4(self.i)
                if 0xDC00 <= low < 0xE000:
                    return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00))
                return chr(code) + chr(low)
            return chr(code)
        self.fail(f"invalid escape \\{char}", at, hint='write \\\\ for a backslash (e.g. "C:\\\\Users")')

    def hex4(self, at: int) -> int:
        digits = self.text[at + 2 : at + 6]
        if not re.fullmatch(r"[0-9a-fA-F]{4}", digits):
            self.fail("\\u must be followed by 4 hex digits", at)
        self.i = at + 6
        return int(digits, 16)
