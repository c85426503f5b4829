"""devbox.yml -> frozen dataclasses.

The file is read as a YAML node tree (not as plain Python values) so that every error can name
the file, the line and the key path: ``devbox.yml:4: unknown key 'port' (did you mean 'ports'?)``.
Values are interpolated from the environment the way docker compose does (``${VAR}``,
``${VAR:-default}``, ``$$``), validated, and given defaults, so that ``app: pkg.mod:app`` alone is
a complete file.

Everything in a :class:`Config` is immutable and hashable; :meth:`Config.to_dict` is the stable,
JSON-able form that the container's config-hash label is computed from.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import os
import posixpath
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import pathspec
import yaml

from devbox.errors import ConfigError
from devbox.supervisor import protocol

CONFIG_NAME = "devbox.yml"
DEFAULT_IMAGE = "python:3.12-slim"
DEFAULT_DOCKERFILE = "docker/Dockerfile"
DEFAULT_WORKDIR = "/app"
DEFAULT_PORT = 8000
DEFAULT_REBUILD = (
    "docker/Dockerfile",
    "Dockerfile",
    "requirements*.txt",
    "pyproject.toml",
    "poetry.lock",
    "uv.lock",
    "Pipfile.lock",
)
DEFAULT_NO_RELOAD = ("static/**", "templates/**")
DEFAULT_DEBOUNCE_MS = 50
DEFAULT_STOP_GRACE = 5.0
# What `docker compose` looks for when no file is named, in its order of preference.
COMPOSE_FILE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")

LISTEN_MODES = (protocol.LISTEN_MODE_FD, protocol.LISTEN_MODE_SELF)
SYNC_MODES = ("auto", "bind", "copy")

# A docker repository path component: the name ends up in image tags (devbox-<name>:dev) and
# container names, so it must be valid in both.
_NAME_RE = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_SEPARATOR_RE = re.compile(r"[._]|__|-+")
_COMPOSE_PROJECT_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")
_SERVICE_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_DOTTED_RE = re.compile(rf"{_IDENT}(?:\.{_IDENT})*")
_APP_RE = re.compile(rf"{_IDENT}(?:\.{_IDENT})*:{_IDENT}(?:\.{_IDENT})*")
_VAR_RE = re.compile(_IDENT)
_INT_RE = re.compile(r"[+-]?[0-9]+")
_ENV_KEY_RE = re.compile(r"[^=\s]+")
_PORT_HINT = 'use "8000", "8000:80" or "127.0.0.1:8000:80"'

_STR_TAG = "tag:yaml.org,2002:str"
_INT_TAG = "tag:yaml.org,2002:int"
_FLOAT_TAG = "tag:yaml.org,2002:float"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_NULL_TAG = "tag:yaml.org,2002:null"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


# ---------------------------------------------------------------------------------------------
# The result
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PortMapping:
    """One published port: host_ip:host_port on the host -> container_port in the container."""

    host_ip: str
    host_port: int
    container_port: int

    def __str__(self) -> str:
        host = f"[{self.host_ip}]" if ":" in self.host_ip else self.host_ip
        return f"{host}:{self.host_port}:{self.container_port}"

    @property
    def url(self) -> str:
        """Where a browser on the host reaches the app (a wildcard address becomes loopback)."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host_ip, self.host_ip)
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.host_port}"


@dataclass(frozen=True)
class Build:
    """How to build the image. `context` and `dockerfile` are kept as written; the *_path fields
    are resolved (context against the project root, dockerfile against the context, as docker
    does)."""

    context: str
    dockerfile: str
    args: tuple[tuple[str, str], ...]
    tag: str
    context_path: Path
    dockerfile_path: Path

    def args_dict(self) -> dict[str, str]:
        return dict(self.args)


@dataclass(frozen=True)
class Watch:
    """What the host watcher looks at. `paths` are relative to the project root (posix, "."
    for the root itself); the pattern lists use .gitignore syntax (see devbox.filters)."""

    paths: tuple[str, ...] = (".",)
    ignore: tuple[str, ...] = ()
    rebuild: tuple[str, ...] = DEFAULT_REBUILD
    no_reload: tuple[str, ...] = DEFAULT_NO_RELOAD
    debounce_ms: int = DEFAULT_DEBOUNCE_MS


@dataclass(frozen=True)
class Reload:
    warm: bool = True
    overlap: bool = True


@dataclass(frozen=True)
class Service:
    """A compose service that devbox supervises: the supervisor runs `app` or `command` in it
    and binds `port` (a container port)."""

    name: str
    app: Optional[str]
    command: Optional[tuple[str, ...]]
    listen: str
    port: int
    env: tuple[tuple[str, str], ...]
    watch: Watch

    def env_dict(self) -> dict[str, str]:
        return dict(self.env)


@dataclass(frozen=True)
class Compose:
    """A compose project. `file` is as written (relative to the project root); `file_path` is
    resolved. Its existence is checked when the project is started, not here."""

    file: str
    file_path: Path
    project_name: str
    services: tuple[Service, ...]

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)


@dataclass(frozen=True)
class Config:
    path: Path  # the devbox.yml, absolute
    root: Path  # its directory, symlinks resolved: what is mounted at `workdir`
    name: str
    image: str  # the image the container runs: the build tag when `build` is set
    build: Optional[Build]
    workdir: str
    app: Optional[str]
    command: Optional[tuple[str, ...]]
    listen: str
    ports: tuple[PortMapping, ...]
    env: tuple[tuple[str, str], ...]  # in file order
    watch: Watch
    sync: str
    reload: Reload
    preload: tuple[str, ...]
    stop_grace: float
    user: Optional[str]
    compose: Optional[Compose]
    warnings: tuple[str, ...] = ()  # e.g. unset variables; not part of to_dict()

    @property
    def app_port(self) -> int:
        """The container port the supervisor binds: the first mapping's."""
        return self.ports[0].container_port

    @property
    def image_tag(self) -> str:
        return self.build.tag if self.build else self.image

    def env_dict(self) -> dict[str, str]:
        return dict(self.env)

    def watch_dirs(self) -> tuple[Path, ...]:
        """The absolute directories (or files) to watch."""
        return tuple((self.root / p).resolve() for p in self.watch.paths)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form (paths and tuples become strings and lists). Two loads of the same
        file in the same environment give equal dicts; warnings are left out."""
        data = _jsonable(self)
        del data["warnings"]
        return data


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


# ---------------------------------------------------------------------------------------------
# Public entry points
# ---------------------------------------------------------------------------------------------


def find_config(start: Path) -> Path:
    """The nearest devbox.yml in `start` or one of its parents."""
    start = Path(os.path.abspath(start))
    for directory in (start, *start.parents):
        candidate = directory / CONFIG_NAME
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"no {CONFIG_NAME} in {start} or any parent directory",
        "run `devbox init` to create one, or pass -f FILE",
    )


def load(
    path: Optional[Path] = None,
    *,
    cwd: Optional[Path] = None,
    environ: Optional[Mapping[str, str]] = None,
) -> Config:
    """Read and validate a devbox.yml. Without `path`, search upward from `cwd`.

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
        raise ConfigError(f"{display}: no such file", "check the path, or run `devbox init`") from None
    except IsADirectoryError:
        raise ConfigError(f"{display}: is a directory, not a file", "pass the path of a devbox.yml") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{display}: is not UTF-8 text ({exc.reason})", "save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{display}: cannot read: {exc.strerror or exc}", "check its permissions") from None
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
    ctx = _Context(
        display=display if display is not None else path.name,
        environ=os.environ if environ is None else environ,
        root=path.parent.resolve(),
    )
    try:
        document = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        raise _yaml_error(ctx.display, exc) from None
    except yaml.YAMLError as exc:  # pragma: no cover - every PyYAML parse error carries a mark
        raise ConfigError(f"{ctx.display}: invalid YAML: {exc}", "check indentation and quoting") from None
    if document is None:
        raise ConfigError(f"{ctx.display}:1: the file is empty", "add at least `app: module:callable`")
    top = ctx.convert(document, "")
    if not isinstance(top.value, dict):
        raise ConfigError(
            f"{ctx.display}:{top.line}: the top level must be a mapping of settings, got {top.describe()}",
            "write `key: value` lines, e.g. `app: myapp:app`",
        )
    return _build_config(top, ctx, path)


def default_listen(command: Sequence[str]) -> str:
    """ "fd" when the command is a server known to take the supervisor's socket on fd 3
    (uvicorn --fd, gunicorn --bind fd://, flask/werkzeug), else "self" (it binds the port)."""
    names = {posixpath.basename(arg) for arg in command}
    if "uvicorn" in names and any(arg == "--fd" or arg.startswith("--fd=") for arg in command):
        return protocol.LISTEN_MODE_FD
    if "gunicorn" in names and any("fd://" in arg for arg in command):
        return protocol.LISTEN_MODE_FD
    if names & {"flask", "werkzeug"}:
        return protocol.LISTEN_MODE_FD
    return protocol.LISTEN_MODE_SELF


def sanitize_name(raw: str) -> str:
    """A valid devbox name made from `raw` (e.g. a directory name), or "" if none can be."""
    name = re.sub(r"[^a-z0-9._-]+", "-", raw.lower())
    # Docker separates name components with ".", "_", "__" or dashes; any other run ("a.-b",
    # "a___b") becomes one dash.
    name = re.sub(r"[._-]+", lambda m: m.group() if _SEPARATOR_RE.fullmatch(m.group()) else "-", name)
    return name.strip("._-")


# ---------------------------------------------------------------------------------------------
# The node tree: values that remember their line and key path
# ---------------------------------------------------------------------------------------------


class _Node:
    """A converted YAML node: `value` is a dict of _Node, a list of _Node or a scalar."""

    __slots__ = ("value", "line", "path", "ctx", "key_lines", "raw")

    def __init__(self, value: Any, line: int, path: str, ctx: _Context, key_lines=None, raw=None):
        self.value = value
        self.line = line
        self.path = path
        self.ctx = ctx
        self.key_lines: dict[str, int] = key_lines or {}
        self.raw: Optional[str] = raw  # scalar text as written, before interpolation

    def error(self, problem: str, hint: str = "") -> ConfigError:
        subject = f"{self.path} " if self.path else ""
        return ConfigError(f"{self.ctx.display}:{self.line}: {subject}{problem}", hint)

    def key_error(self, key: str, problem: str, hint: str = "") -> ConfigError:
        """An error about one of this mapping's keys, on the key's line."""
        return ConfigError(f"{self.ctx.display}:{self.key_lines[key]}: {problem}", hint)

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

    def mapping(self, allowed: Sequence[str], *, extensions: bool = False) -> dict[str, _Node]:
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
                full = f"{self.path}.{key}" if self.path else key
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"valid keys: {', '.join(allowed)}"
                raise self.key_error(key, f"unknown key '{full}'", hint)
            children[key] = child
        return children

    def items(self) -> list[_Node]:
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
            close = difflib.get_close_matches(str(value), choices, n=1) if isinstance(value, str) else []
            hint = f"did you mean '{close[0]}'?" if close else ""
            raise self.error(f"must be one of {', '.join(choices)}, got {self.describe()}", hint)
        return value


class _Context:
    """What every node needs: how to name the file, where variables come from, where warnings go."""

    def __init__(self, display: str, environ: Mapping[str, str], root: Path):
        self.display = display
        self.environ = environ
        self.root = root
        self.warnings: list[str] = []
        self._warned: set[str] = set()
        self._constructor = yaml.constructor.SafeConstructor()
        self._active: set[int] = set()

    def convert(self, node: yaml.Node, path: str) -> _Node:
        line = node.start_mark.line + 1
        if id(node) in self._active:
            raise ConfigError(f"{self.display}:{line}: {path} refers to itself (recursive alias)", "")
        self._active.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._convert_mapping(node, path, line)
            if isinstance(node, yaml.SequenceNode):
                items = [self.convert(item, f"{path}[{i}]") for i, item in enumerate(node.value)]
                return _Node(items, line, path, self)
            return self._convert_scalar(node, path, line)
        finally:
            self._active.discard(id(node))

    def _convert_mapping(self, node: yaml.MappingNode, path: str, line: int) -> _Node:
        try:
            self._constructor.flatten_mapping(node)  # resolves `<<: *anchor` merge keys
        except yaml.MarkedYAMLError as exc:
            raise _yaml_error(self.display, exc) from None
        children: dict[str, _Node] = {}
        key_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _NULL_TAG:
                where = f"in {path} " if path else ""
                raise ConfigError(f"{self.display}:{key_line}: {where}a key must be a plain name", "")
            key = key_node.value  # as written: `1:` is "1", `yes:` is "yes"
            child_path = f"{path}.{key}" if path else key
            if key in children:
                raise ConfigError(
                    f"{self.display}:{key_line}: duplicate key '{child_path}'",
                    f"it is already set on line {key_lines[key]}",
                )
            children[key] = self.convert(value_node, child_path)
            key_lines[key] = key_line
        return _Node(children, line, path, self, key_lines=key_lines)

    def _convert_scalar(self, node: yaml.ScalarNode, path: str, line: int) -> _Node:
        tag, raw = node.tag, node.value
        if tag == _STR_TAG or tag == _TIMESTAMP_TAG or (tag in (_INT_TAG, _FLOAT_TAG) and ":" in raw):
            # Dates stay text, and YAML 1.1's base-60 numbers (8001:50 -> 480050) are a trap:
            # whoever writes a colon means a string.
            value = self.interpolate(raw, path, line)
        elif tag in (_INT_TAG, _FLOAT_TAG, _BOOL_TAG, _NULL_TAG):
            value = self._constructor.construct_object(node)
        else:
            raise ConfigError(f"{self.display}:{line}: {path} has an unsupported YAML tag {tag!r}", "remove the tag")
        return _Node(value, line, path, self, raw=raw)

    # -- interpolation, as in compose files ----------------------------------------------------

    def interpolate(self, text: str, path: str, line: int) -> str:
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
                    raise self._bad_interpolation(path, line, f"'{text[j:]}' has no closing brace")
                out.append(self._expand(text[j + 2 : end], path, line))
                i = end + 1
            else:
                match = _VAR_RE.match(text, j + 1)
                if not match:
                    raise self._bad_interpolation(path, line, f"a '$' in {text!r} starts no variable")
                out.append(self._lookup(match.group(), path, line, warn=True) or "")
                i = match.end()

    def _expand(self, expression: str, path: str, line: int) -> str:
        match = _VAR_RE.match(expression)
        if not match:
            raise self._bad_interpolation(path, line, f"'${{{expression}}}' is not a variable")
        name, rest = match.group(), expression[match.end() :]
        if not rest:
            return self._lookup(name, path, line, warn=True) or ""
        value = self._lookup(name, path, line, warn=False)
        for operator in (":-", ":?", ":+", "-", "?", "+"):
            if rest.startswith(operator):
                argument = rest[len(operator) :]
                break
        else:
            raise self._bad_interpolation(path, line, f"'${{{expression}}}' is not a valid substitution")
        is_set = value is not None if ":" not in operator else bool(value)
        if operator.endswith("-"):
            return value if is_set else self.interpolate(argument, path, line)
        if operator.endswith("+"):
            return self.interpolate(argument, path, line) if is_set else ""
        if not is_set:  # the "?" forms: a required variable
            reason = self.interpolate(argument, path, line) or "it is not set"
            raise ConfigError(f"{self.display}:{line}: {path} needs {name}: {reason}", f"set {name} in the environment")
        return value

    def _lookup(self, name: str, path: str, line: int, *, warn: bool) -> Optional[str]:
        value = self.environ.get(name)
        if value is None and warn and name not in self._warned:
            self._warned.add(name)
            self.warnings.append(f"{self.display}:{line}: {path}: {name} is not set, using an empty string")
        return value

    def _bad_interpolation(self, path: str, line: int, problem: str) -> ConfigError:
        return ConfigError(
            f"{self.display}:{line}: {path} {problem}",
            "write ${VAR}, ${VAR:-default} or $VAR; $$ is a literal $",
        )


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


def _yaml_error(display: str, exc: yaml.MarkedYAMLError) -> ConfigError:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "invalid YAML"
    hint = "YAML indents with spaces, not tabs" if "\\t" in problem else "check indentation and quoting"
    if mark is None:  # pragma: no cover
        return ConfigError(f"{display}: invalid YAML: {problem}", hint)
    return ConfigError(f"{display}:{mark.line + 1}: invalid YAML: {problem} (column {mark.column + 1})", hint)


def _display_name(path: Path, cwd: Path) -> str:
    if not path.is_absolute():
        return str(path)
    try:
        return str(path.relative_to(cwd))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------------------------------------
# The schema
# ---------------------------------------------------------------------------------------------

_TOP_KEYS = (
    "name", "image", "build", "workdir", "app", "command", "listen", "ports", "env", "watch",
    "sync", "reload", "preload", "stop_grace", "user", "compose",
)  # fmt: skip
_BUILD_KEYS = ("context", "dockerfile", "args")
_WATCH_KEYS = ("paths", "ignore", "rebuild", "no_reload", "debounce_ms")
_SERVICE_WATCH_KEYS = ("paths", "ignore", "rebuild", "no_reload")
_RELOAD_KEYS = ("warm", "overlap")
_COMPOSE_KEYS = ("file", "project_name", "services")
_SERVICE_KEYS = ("app", "command", "listen", "port", "env", "watch")


def _set(fields: Mapping[str, _Node], key: str) -> Optional[_Node]:
    """The node of `key` if it is present and not null: a null value means "the default"."""
    node = fields.get(key)
    return None if node is None or node.value is None else node


def _build_config(top: _Node, ctx: _Context, path: Path) -> Config:
    fields = top.mapping(_TOP_KEYS, extensions=True)
    root = ctx.root
    name = _parse_name(_set(fields, "name"), top, root)
    image_node = _set(fields, "image")
    image = image_node.nonempty_text() if image_node else None
    build = None
    if _set(fields, "build"):
        build = _parse_build(fields["build"], root, tag=image or f"devbox-{name}:dev")
        image = build.tag
    watch = _parse_watch(_set(fields, "watch"), root, Watch(rebuild=_default_rebuild(build, root)), _WATCH_KEYS)
    compose = _parse_compose(fields["compose"], root, name, watch) if _set(fields, "compose") else None
    process = _parse_process(fields, top, required=compose is None)
    return Config(
        path=path,
        root=root,
        name=name,
        image=image or DEFAULT_IMAGE,
        build=build,
        workdir=_parse_workdir(_set(fields, "workdir")),
        app=process.app,
        command=process.command,
        listen=process.listen,
        ports=_parse_ports(_set(fields, "ports")),
        env=_parse_pairs(_set(fields, "env")),
        watch=watch,
        sync=fields["sync"].choice(SYNC_MODES) if _set(fields, "sync") else "auto",
        reload=_parse_reload(_set(fields, "reload")),
        preload=tuple(_module_name(n) for n in fields["preload"].items()) if "preload" in fields else (),
        stop_grace=fields["stop_grace"].number(0) if _set(fields, "stop_grace") else DEFAULT_STOP_GRACE,
        user=fields["user"].nonempty_text(numbers=True) if _set(fields, "user") else None,
        compose=compose,
        warnings=tuple(ctx.warnings),
    )


def _parse_name(node: Optional[_Node], top: _Node, root: Path) -> str:
    if node is None:
        name = sanitize_name(root.name)
        if not name:
            raise top.error(
                f"no `name` is set and none can be made from the directory name {root.name!r}",
                "set `name: myapp` (lowercase letters, digits, and . _ - between them)",
            )
        return name
    name = node.nonempty_text()
    if not _NAME_RE.fullmatch(name):
        suggestion = sanitize_name(name)
        raise node.error(
            f"{name!r} is not a valid name (lowercase letters, digits, and . _ - between them)",
            f"try {suggestion!r}" if suggestion else "e.g. `name: myapp`",
        )
    return name


def _parse_build(node: _Node, root: Path, tag: str) -> Build:
    if isinstance(node.value, str):  # compose's short form: `build: ./dir`
        fields: dict[str, _Node] = {}
        context = node.nonempty_text()
    else:
        fields = node.mapping(_BUILD_KEYS)
        context = fields["context"].nonempty_text() if _set(fields, "context") else "."
    dockerfile = fields["dockerfile"].nonempty_text() if _set(fields, "dockerfile") else DEFAULT_DOCKERFILE
    context_path = (root / context).resolve()
    return Build(
        context=context,
        dockerfile=dockerfile,
        args=_parse_pairs(_set(fields, "args")),
        tag=tag,
        context_path=context_path,
        dockerfile_path=(context_path / dockerfile).resolve(),
    )


def _default_rebuild(build: Optional[Build], root: Path) -> tuple[str, ...]:
    """The default rebuild list, plus the Dockerfile actually used when it is elsewhere."""
    if build is None:
        return DEFAULT_REBUILD
    try:
        dockerfile = build.dockerfile_path.relative_to(root).as_posix()
    except ValueError:
        return DEFAULT_REBUILD  # outside the project: the watcher cannot see it anyway
    return DEFAULT_REBUILD if dockerfile in DEFAULT_REBUILD else (*DEFAULT_REBUILD, dockerfile)


def _parse_workdir(node: Optional[_Node]) -> str:
    if node is None:
        return DEFAULT_WORKDIR
    workdir = node.nonempty_text()
    if not workdir.startswith("/"):
        raise node.error(f"must be an absolute container path, got {workdir!r}", f"e.g. /{workdir.lstrip('./')}")
    workdir = posixpath.normpath(workdir)
    if workdir in ("/", "//"):
        raise node.error("must not be / (the project is mounted there)", "e.g. /app")
    return workdir


@dataclass(frozen=True)
class _Process:
    app: Optional[str]
    command: Optional[tuple[str, ...]]
    listen: str


def _parse_process(fields: Mapping[str, _Node], parent: _Node, *, required: bool) -> _Process:
    """`app` or `command`, and `listen`: shared by the top level and compose services."""
    app_node, command_node = _set(fields, "app"), _set(fields, "command")
    if app_node and command_node:
        earlier, later = sorted((app_node, command_node), key=lambda n: n.line)
        raise later.error(
            f"cannot be set together with `{earlier.path.rpartition('.')[2]}` (line {earlier.line})",
            "keep one: `app` runs a WSGI callable in devbox's server, `command` runs any server",
        )
    app = _parse_app(app_node) if app_node else None
    command = _parse_command(command_node) if command_node else None
    listen_node = _set(fields, "listen")
    if app is None and command is None:
        if required:
            problem = "has nothing to run" if parent.path else "nothing to run"
            raise parent.error(problem, "set `app: module:callable` or `command: ...`")
        if listen_node:
            raise listen_node.error("needs `app` or `command` next to it")
        return _Process(None, None, protocol.LISTEN_MODE_FD)
    if listen_node is None:
        listen = protocol.LISTEN_MODE_FD if app else default_listen(command)
    else:
        listen = listen_node.choice(LISTEN_MODES)
        if app and listen == protocol.LISTEN_MODE_SELF:
            raise listen_node.error(
                "cannot be 'self' with `app`",
                "`app` is served on the supervisor's socket; `listen: self` is for a `command` that binds the port",
            )
    return _Process(app, command, listen)


def _parse_app(node: _Node) -> str:
    app = node.nonempty_text().strip()
    if not _APP_RE.fullmatch(app):
        raise node.error(f"{app!r} is not module:callable", "e.g. `app: myproject.wsgi:application`")
    return app


def _parse_command(node: _Node) -> tuple[str, ...]:
    if isinstance(node.value, list):
        argv = tuple(item.text(numbers=True) for item in node.value)
    else:
        text = node.text()
        try:
            argv = tuple(shlex.split(text))
        except ValueError as exc:
            hint = "check its quotes, or write it as a list"
            raise node.error(f"cannot be split into arguments: {exc}", hint) from None
    if not argv or not argv[0].strip():
        raise node.error("must not be empty", "e.g. `command: uvicorn app:app --fd 3`")
    return argv


def _parse_ports(node: Optional[_Node]) -> tuple[PortMapping, ...]:
    if node is None:
        return (PortMapping("127.0.0.1", DEFAULT_PORT, DEFAULT_PORT),)
    items = node.items()
    if not items:
        raise node.error("must list at least one port (the first is the app's)", _PORT_HINT)
    ports: list[PortMapping] = []
    for item in items:
        mapping = _parse_port(item)
        for i, other in enumerate(ports):
            if (other.host_ip, other.host_port) == (mapping.host_ip, mapping.host_port):
                raise item.error(f"host port {mapping.host_port} on {mapping.host_ip} is already used by ports[{i}]")
        ports.append(mapping)
    return tuple(ports)


def _parse_port(node: _Node) -> PortMapping:
    value = node.value
    if isinstance(value, int) and not isinstance(value, bool):
        number = _port_number(node, str(value))
        return PortMapping("127.0.0.1", number, number)
    if not isinstance(value, str):
        raise node.error(f"{node.describe()} is not a port", _PORT_HINT)
    text = value.strip()
    if text.endswith("/tcp"):
        text = text[: -len("/tcp")]
    host_ip = "127.0.0.1"
    if text.startswith("["):  # [::1]:8000:80
        close = text.find("]")
        if close < 0 or text[close + 1 : close + 2] != ":":
            raise node.error(f"{value!r} is not a port", _PORT_HINT)
        host_ip, text = text[1:close], text[close + 2 :]
        parts = text.split(":")
        if len(parts) != 2:
            raise node.error(f"{value!r} is not a port", _PORT_HINT)
    else:
        parts = text.split(":")
        if len(parts) == 3:
            host_ip = parts.pop(0)
        elif len(parts) not in (1, 2):
            raise node.error(f"{value!r} is not a port", _PORT_HINT)
    try:
        host_ip = str(ipaddress.ip_address(host_ip))
    except ValueError:
        raise node.error(f"{value!r} has an invalid host address {host_ip!r}", _PORT_HINT) from None
    numbers = [_port_number(node, part, original=value) for part in parts]
    return PortMapping(host_ip, numbers[0], numbers[-1])


def _port_number(node: _Node, text: str, original: Optional[str] = None) -> int:
    shown = original if original is not None else text
    if not text.isdigit():
        raise node.error(f"{shown!r} is not a port", _PORT_HINT)
    number = int(text)
    if not 1 <= number <= 65535:
        raise node.error(f"{shown!r}: port {number} is out of range 1..65535", _PORT_HINT)
    return number


def _parse_pairs(node: Optional[_Node]) -> tuple[tuple[str, str], ...]:
    """A mapping of strings (numbers and booleans kept as written) or a list of "KEY=VALUE",
    as compose's `environment` and build `args` accept. Order is kept."""
    if node is None:
        return ()
    pairs: dict[str, str] = {}
    if isinstance(node.value, dict):
        for key, child in node.value.items():
            if not _ENV_KEY_RE.fullmatch(key):
                raise node.key_error(key, f"{node.path} has an invalid name {key!r}", "no = or spaces in names")
            if child.value is None:
                raise child.error("is null", f'write {key}: "" for an empty value')
            pairs[key] = child.text(numbers=True)
        return tuple(pairs.items())
    for item in node.items():
        text = item.text(numbers=True)
        key, sep, value = text.partition("=")
        if not sep or not _ENV_KEY_RE.fullmatch(key):
            raise item.error(f"{text!r} is not KEY=VALUE", 'e.g. "DEBUG=1"')
        if key in pairs:
            raise item.error(f"sets {key} a second time")
        pairs[key] = value
    return tuple(pairs.items())


def _parse_watch(node: Optional[_Node], root: Path, defaults: Watch, keys: Sequence[str]) -> Watch:
    """`watch` at the top level (all keys) or in a compose service (`keys` without
    debounce_ms); anything not set comes from `defaults`."""
    if node is None:
        return defaults
    fields = node.mapping(keys)
    changes: dict[str, Any] = {}
    if _set(fields, "paths"):
        changes["paths"] = _watch_paths(fields["paths"], root)
    for key in ("ignore", "rebuild", "no_reload"):
        if key in fields and fields[key].value is not None:
            changes[key] = _patterns(fields[key])
    if _set(fields, "debounce_ms"):
        changes["debounce_ms"] = fields["debounce_ms"].integer(0)
    return dataclasses.replace(defaults, **changes)


def _watch_paths(node: _Node, root: Path) -> tuple[str, ...]:
    paths = []
    items = node.items()
    if not items:
        raise node.error("must list at least one path", 'e.g. ["."]')
    for item in items:
        written = item.nonempty_text()
        resolved = (root / written).resolve()
        if resolved != root and root not in resolved.parents:
            raise item.error(
                f"{written!r} is outside the project ({resolved})",
                f"watch paths must be inside {root}, the directory of devbox.yml",
            )
        if not resolved.exists():
            raise item.error(f"{written!r} does not exist", f"paths are relative to {root}")
        paths.append(resolved.relative_to(root).as_posix())
    return tuple(dict.fromkeys(paths))


def _patterns(node: _Node) -> tuple[str, ...]:
    patterns = []
    for item in node.items():
        pattern = item.nonempty_text()
        try:
            pathspec.GitIgnoreSpec.from_lines([pattern])
        except ValueError as exc:
            hint = 'use .gitignore syntax, e.g. "*.log" or "build/"'
            raise item.error(f"{pattern!r} is not a valid pattern: {exc}", hint) from None
        patterns.append(pattern)
    return tuple(patterns)


def _parse_reload(node: Optional[_Node]) -> Reload:
    if node is None:
        return Reload()
    fields = node.mapping(_RELOAD_KEYS)
    return Reload(**{key: fields[key].boolean() for key in _RELOAD_KEYS if _set(fields, key)})


def _module_name(node: _Node) -> str:
    name = node.nonempty_text().strip()
    if not _DOTTED_RE.fullmatch(name):
        raise node.error(f"{name!r} is not a module name", "e.g. numpy or myapp.models")
    return name


def _parse_compose(node: _Node, root: Path, name: str, watch: Watch) -> Compose:
    fields = node.mapping(_COMPOSE_KEYS)
    if _set(fields, "file"):
        file = fields["file"].nonempty_text()
    else:
        file = next((f for f in COMPOSE_FILE_NAMES if (root / f).is_file()), "")
        if not file:
            candidates = " or ".join(COMPOSE_FILE_NAMES)
            raise node.error(f"has no `file` and there is no {candidates} in {root}", "set `file: path/to/compose.yml`")
    if _set(fields, "project_name"):
        project = fields["project_name"].nonempty_text()
        if not _COMPOSE_PROJECT_RE.fullmatch(project):
            raise fields["project_name"].error(
                f"{project!r} is not a compose project name (lowercase letters, digits, _ and -)", ""
            )
    else:
        project = name.replace(".", "-")
    services_node = _set(fields, "services")
    if services_node is None:
        hint = "list the services devbox runs, e.g. `services: {web: {app: app:app, port: 8000}}`"
        raise node.error("has no `services`", hint)
    if not isinstance(services_node.value, dict):
        raise services_node.error(f"must be a mapping of service names, got {services_node.describe()}")
    services = tuple(
        _parse_service(key, child, services_node, root, watch) for key, child in services_node.value.items()
    )
    return Compose(file=file, file_path=(root / file).resolve(), project_name=project, services=services)


def _parse_service(name: str, node: _Node, parent: _Node, root: Path, watch: Watch) -> Service:
    if not _SERVICE_RE.fullmatch(name):
        raise parent.key_error(name, f"{parent.path} has an invalid service name {name!r}", "letters, digits, . _ -")
    fields = node.mapping(_SERVICE_KEYS)
    process = _parse_process(fields, node, required=True)
    return Service(
        name=name,
        app=process.app,
        command=process.command,
        listen=process.listen,
        port=fields["port"].integer(1, 65535) if _set(fields, "port") else DEFAULT_PORT,
        env=_parse_pairs(_set(fields, "env")),
        watch=_parse_watch(_set(fields, "watch"), root, watch, _SERVICE_WATCH_KEYS),
    )
