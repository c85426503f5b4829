"""The value rules of devbox.yml: each function reads one kind of value from a located node and
raises a ConfigError on that node's line when it is wrong. Which key uses which rule is the
schema's business (:mod:`devbox.config.schema`)."""

from __future__ import annotations

import ipaddress
import os
import posixpath
import re
import shlex
from typing import Optional, Sequence


from devbox.config import names
from devbox.config.model import MOUNT_TYPES, Hook, Mount, PortMapping
from devbox.config.tree import Node
from devbox.supervisor import appspec, protocol

_ENV_KEY_RE = re.compile(r"[^=\s]+")
_PORT_HINT = 'use "8000", "8000:80" or "127.0.0.1:8000:80"'
_HOOK_HINT = 'e.g. "pip install -e .", ["pip", "install", "-e", "."] or {"deps": "pip install -e ."}'
_MOUNT_HINT = 'e.g. "type=bind,source=/host/path,target=/data,readonly" or {type: volume, source: cache, target: /root/.cache}'
_MOUNT_OPTIONS = {"type": "type", "source": "source", "src": "source", "target": "target", "destination": "target",
                  "dst": "target", "readonly": "read_only", "ro": "read_only"}  # fmt: skip
_MOUNT_IGNORED = ("consistency",)  # Docker Desktop for Mac's hint; Linux engines ignore it too


def text(node: Node) -> str:
    return node.nonempty_text()


def text_or_number(node: Node) -> str:
    """A string; a number is taken as written (`user: 1000`)."""
    return node.nonempty_text(numbers=True)


def boolean(node: Node) -> bool:
    return node.boolean()


def name(node: Node) -> str:
    name = node.nonempty_text()
    if not names.is_valid(name):
        suggestion = names.sanitize_name(name)
        raise node.error(
            f"{name!r} is not a valid name ({names.RULE})",
            f"try {suggestion!r}" if suggestion else "e.g. `name: myapp`",
        )
    return name


def app(node: Node) -> str:
    """`module:callable` or `module:factory(literal arguments)`, kept as written."""
    app = node.nonempty_text().strip()
    try:
        appspec.parse(app)
    except appspec.AppSpecError as exc:
        raise node.error(f"{app!r} {exc}", appspec.EXAMPLES) from None
    return app


def workdir(node: Node) -> str:
    workdir = node.nonempty_text()
    if not workdir.startswith("/"):
        raise node.error(f"must be an absolute container path, got {workdir!r}", f"e.g. /{workdir.lstrip('./')}")
    workdir = posixpath.normpath(workdir)
    if workdir in ("/", "//"):
        raise node.error("must not be / (the project is mounted there)", "e.g. /app")
    return workdir


def default_listen(command: Sequence[str]) -> str:
    """ "fd" when the command is a server known to take the supervisor's socket on fd 3, else
    "self" (it binds the port). Known: uvicorn --fd, gunicorn with --bind fd:// or no bind at
    all (socket activation), flask/werkzeug (their variables), Django's runserver, and any
    command a Python interpreter runs (`python3 app.py`, `python -m ...`): the supervisor's
    sitecustomize shim makes a Python socket that binds the app's port adopt fd 3. Servers
    written in C or Rust (granian...) bind outside Python: they need `listen: self`."""
    programs = {posixpath.basename(arg) for arg in command}
    if programs & _BINDS_OUTSIDE_PYTHON:
        return protocol.LISTEN_MODE_SELF
    if command and _PYTHON.fullmatch(posixpath.basename(command[0])):
        return protocol.LISTEN_MODE_FD
    if "uvicorn" in programs and any(arg == "--fd" or arg.startswith("--fd=") for arg in command):
        return protocol.LISTEN_MODE_FD
    if "gunicorn" in programs and (any("fd://" in arg for arg in command) or not _binds(command)):
        return protocol.LISTEN_MODE_FD
    if programs & {"flask", "werkzeug"}:
        return protocol.LISTEN_MODE_FD
    if "manage.py" in programs and "runserver" in command:
        return protocol.LISTEN_MODE_FD
    return protocol.LISTEN_MODE_SELF


_PYTHON = re.compile(r"python[0-9.]*")  # python, python3, python3.12
_BINDS_OUTSIDE_PYTHON = {"granian"}  # `python -m granian`: its Rust core binds the port


def _binds(command: Sequence[str]) -> bool:
    """True when a gunicorn command line says where to bind (or reads a config file that may)."""
    return any(arg in ("-b", "--bind", "-c", "--config") or arg.startswith(("--bind=", "--config="))
               or (arg.startswith(("-b", "-c")) and not arg.startswith("--")) for arg in command)


def command(node: Node) -> tuple[str, ...]:
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


def ports(node: Node) -> tuple[PortMapping, ...]:
    items = node.items()
    if not items:
        raise node.error("must list at least one port (the first is the app's)", _PORT_HINT)
    ports: list[PortMapping] = []
    for item in items:
        mapping = port_mapping(item)
        for i, other in enumerate(ports):
            if (other.host_ip, other.host_port) == (mapping.host_ip, mapping.host_port):
                raise item.error(f"host port {mapping.host_port} on {mapping.host_ip} is already used by ports[{i}]")
        ports.append(mapping)
    return tuple(ports)


def port_mapping(node: Node) -> PortMapping:
    value = node.value
    if isinstance(value, int) and not isinstance(value, bool):
        number = port_number(node, str(value))
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
    numbers = [port_number(node, part, original=value) for part in parts]
    return PortMapping(host_ip, numbers[0], numbers[-1])


def port_number(node: Node, text: str, original: Optional[str] = None) -> int:
    shown = original if original is not None else text
    if not text.isdigit():
        raise node.error(f"{shown!r} is not a port", _PORT_HINT)
    number = int(text)
    if not 1 <= number <= 65535:
        raise node.error(f"{shown!r}: port {number} is out of range 1..65535", _PORT_HINT)
    return number


def pairs(node: Node) -> tuple[tuple[str, str], ...]:
    """A mapping of strings (numbers and booleans kept as written) or a list of "KEY=VALUE",
    as compose's `environment` and build `args` accept. Order is kept."""
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


def watch_paths(node: Node) -> tuple[str, ...]:
    """Paths inside the project that exist, relative to its root (posix), without repeats."""
    root = node.ctx.root
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


def patterns(node: Node) -> tuple[str, ...]:
    import pathspec  # here, not at import: ~25 ms, which a devbox.yml without patterns spares the start

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


def module_name(node: Node) -> str:
    name = node.nonempty_text().strip()
    if not appspec.is_module_name(name):
        raise node.error(f"{name!r} is not a module name", "e.g. numpy or myapp.models")
    return name


def hooks(node: Node, when: str) -> tuple[Hook, ...]:
    """A lifecycle command in the Dev Containers spec's three forms: a string (run by a shell),
    a list (an argv, no shell) or a mapping of named commands of either form, run in parallel.
    An empty string or list is no command."""
    if isinstance(node.value, dict):
        found = []
        for name, child in node.value.items():
            if child.value is None or isinstance(child.value, dict):
                raise child.error(f"must be a string or a list of arguments, got {child.describe()}", _HOOK_HINT)
            found.extend(Hook(when, name, hook.argv, hook.shell) for hook in hooks(child, when))
        return tuple(found)
    if isinstance(node.value, list):
        argv = tuple(item.text(numbers=True) for item in node.value)
        return (Hook(when, "", argv=argv),) if argv else ()
    if not isinstance(node.value, str):
        raise node.error(f"must be a string, a list of arguments or a mapping of them, got {node.describe()}", _HOOK_HINT)
    return (Hook(when, "", shell=node.value),) if node.value.strip() else ()


def mounts(node: Node) -> tuple[Mount, ...]:
    return tuple(mount(item) for item in node.items())


def mount(node: Node) -> Mount:
    """A mount as docker's --mount flag writes it (`type=bind,source=...,target=...,readonly`),
    or a mapping {type, source, target, read_only}. A relative bind source is taken from the
    project root."""
    if isinstance(node.value, dict):
        fields = node.mapping(("type", "source", "target", "read_only"))
        found = {key: (child.boolean() if key == "read_only" else child.text()) for key, child in fields.items()
                 if child.value is not None}  # fmt: skip
    else:
        found = {}
        for option in node.nonempty_text().split(","):
            key, sep, value = (part.strip() for part in option.partition("="))
            if key in _MOUNT_IGNORED:
                continue
            if key not in _MOUNT_OPTIONS:
                raise node.error(f"has an option devbox does not apply: {key!r}", _MOUNT_HINT)
            key = _MOUNT_OPTIONS[key]
            found[key] = value.lower() in ("", "1", "true") if key == "read_only" else value
    kind = found.get("type", "volume")
    if kind not in MOUNT_TYPES:
        raise node.error(f"has the mount type {kind!r}; devbox mounts {', '.join(MOUNT_TYPES)}", _MOUNT_HINT)
    target = found.get("target", "")
    if not target.startswith("/"):
        raise node.error(f"needs an absolute container path as its target, got {target!r}", _MOUNT_HINT)
    source = found.get("source", "")
    if kind == "bind":
        if not source:
            raise node.error("is a bind mount without a source", _MOUNT_HINT)
        # An absolute source stays as written: /var/run/docker.sock is a symlink docker resolves.
        source = os.path.normpath(os.path.join(node.ctx.root, os.path.expanduser(source)))
    return Mount(kind, source, posixpath.normpath(target), bool(found.get("read_only", False)))
