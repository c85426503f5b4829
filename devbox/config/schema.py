"""The schema: every devbox.yml key declared once, with its rule, default and one-line doc.

As gunicorn declares each setting once (``gunicorn/config.py``), a :class:`Key` here is the only
place a key is named: the allowed keys of each mapping, "null means the default", the
did-you-mean hint and the README's reference tables (:func:`reference_table`) all come from
these declarations. What depends on several keys at once (the build tag, the default rebuild
list, `app` vs `command`, compose defaults) is done by the builders at the bottom.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from devbox.config import names, values
from devbox.config.model import (
    COMPOSE_FILE_NAMES, DEFAULT_DEBOUNCE_MS, DEFAULT_DOCKERFILE, DEFAULT_IMAGE, DEFAULT_NO_RELOAD,
    DEFAULT_PORT, DEFAULT_REBUILD, DEFAULT_STOP_GRACE, DEFAULT_WORKDIR, LISTEN_MODES, SYNC_MODES,
    Build, Compose, Config, PortMapping, Reload, Service, Watch,
)  # fmt: skip
from devbox.config.tree import Node


@dataclass(frozen=True)
class Key:
    """One key of a mapping. `parse` reads a set (non-null) value; `default` is the value when
    the key is absent or null (None: none, or computed by a builder and described by `shown`).
    A key with a `section` is a mapping of its own; `expand` lists its keys in the README."""

    name: str
    doc: str
    parse: Optional[Callable[[Node], Any]] = None
    default: Any = None
    shown: str = ""
    section: Optional[Section] = None
    expand: bool = False

    def shown_default(self) -> str:
        if self.shown:
            return self.shown
        if self.default is None:
            return "none"
        return f"`{_literal(self.default)}`"


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return json.dumps(list(value))
    return str(value)


class Section:
    """The keys a mapping may have (`extensions`: compose-style `x-...` keys are skipped)."""

    def __init__(self, *keys: Key, extensions: bool = False):
        self.keys = {key.name: key for key in keys}
        self.extensions = extensions

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.keys)

    def without(self, *names: str) -> Section:
        return Section(*(k for k in self.keys.values() if k.name not in names), extensions=self.extensions)

    def fields(self, node: Optional[Node]) -> Fields:
        """The keys set in `node` (a mapping, or null for none); unknown keys are errors."""
        return Fields(self, {} if node is None else node.mapping(self.names, extensions=self.extensions))


class Fields:
    """The keys of one mapping in a devbox.yml, read through their declarations."""

    def __init__(self, section: Section, nodes: dict[str, Node]):
        self.section = section
        self._nodes = nodes

    def node(self, name: str) -> Optional[Node]:
        """The node of `name` if it is present and not null: a null value means "the default"."""
        node = self._nodes.get(name)
        return None if node is None or node.value is None else node

    def has(self, name: str) -> bool:
        return self.node(name) is not None

    def get(self, name: str) -> Any:
        key, node = self.section.keys[name], self.node(name)
        return key.default if node is None else key.parse(node)

    def set_values(self) -> dict[str, Any]:
        """The parsed value of every key that is set, by name (for dataclasses.replace)."""
        return {name: self.get(name) for name in self.section.names if self.has(name)}


def reference_table(section: Section) -> str:
    """The Markdown table of `section` that the README's devbox.yml reference shows."""
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for key in section.keys.values():
        nested = key.section.keys.values() if key.expand and key.section else ()
        for sub in nested:
            rows.append(f"| `{key.name}.{sub.name}` | {sub.shown_default()} | {sub.doc} |")
        if not nested:
            rows.append(f"| `{key.name}` | {key.shown_default()} | {key.doc} |")
    return "\n".join(rows) + "\n"


def _choice(choices: tuple[str, ...]) -> Callable[[Node], str]:
    return lambda node: node.choice(choices)


def _modules(node: Node) -> tuple[str, ...]:
    return tuple(values.module_name(item) for item in node.items())


def _compose_project(node: Node) -> str:
    project = node.nonempty_text()
    if not names.is_compose_project(project):
        raise node.error(f"{project!r} is not a compose project name (lowercase letters, digits, _ and -)", "")
    return project


# ---------------------------------------------------------------------------------------------
# The keys
# ---------------------------------------------------------------------------------------------

APP = Key("app", "`module:callable` of a WSGI app, or a factory called with literal arguments (`module:create_app(debug=True)`), served by the supervisor's threaded wsgiref child", values.app)  # noqa: E501
COMMAND = Key("command", "any command to run instead of `app` (string or list), e.g. `uvicorn main:app --fd 3`", values.command)  # noqa: E501
LISTEN = Key("listen", "`fd`: the command serves on the supervisor's socket, fd 3 (`uvicorn --fd 3`, `gunicorn --bind fd://3`); `self`: it binds the port itself", _choice(LISTEN_MODES), shown="`fd` for `app` and known servers, else `self`")  # noqa: E501
ENV = Key("env", "environment of the app (mapping, or a list of `K=V`)", values.pairs, (), shown="`{}`")

WATCH = Section(
    Key("paths", "what to watch, inside the project", values.watch_paths, (".",)),
    Key("ignore", "more ignore patterns, on top of `.gitignore` files, `.dockerignore` and built-in defaults (`.git`, `__pycache__`, `.venv`, `node_modules`, editor swap files...)", values.patterns, ()),  # noqa: E501
    Key("rebuild", "a change rebuilds the image and recreates the container", values.patterns, DEFAULT_REBUILD, shown="Dockerfiles, `requirements*.txt`, `pyproject.toml`, lock files"),  # noqa: E501
    Key("no_reload", "changes are synced without restarting the app", values.patterns, DEFAULT_NO_RELOAD),
    Key("debounce_ms", "how long the tree must be quiet before a burst of changes is acted on (a lone save does not wait for it); a long burst waits a little longer, up to 0.5 s", lambda node: node.integer(0), DEFAULT_DEBOUNCE_MS),  # noqa: E501
)
RELOAD = Section(
    Key("warm", "fork each new child from a template that has imported the dependencies (`false`: a fresh interpreter per reload)", values.boolean, True),  # noqa: E501
    Key("overlap", "the old child serves until the new one is ready (`false`: it stops when the reload starts)", values.boolean, True),  # noqa: E501
)
BUILD = Section(
    Key("context", "the build context, relative to devbox.yml", values.text, "."),
    Key("dockerfile", "relative to the context", values.text, DEFAULT_DOCKERFILE),
    Key("args", "build arguments (mapping, or a list of `K=V`)", values.pairs, ()),
)
SERVICE = Section(
    APP,
    COMMAND,
    LISTEN,
    Key("port", "the container port the supervisor binds", lambda node: node.integer(1, 65535), DEFAULT_PORT),
    ENV,
    Key("watch", "`paths`, `ignore`, `rebuild`, `no_reload` as in `watch`; what is not set comes from the top-level `watch`", section=WATCH.without("debounce_ms"), shown="the top-level `watch`"),  # noqa: E501
)
COMPOSE = Section(
    Key("file", "the compose file, relative to devbox.yml; never modified", values.text, shown="the first of " + ", ".join(f"`{n}`" for n in COMPOSE_FILE_NAMES)),  # noqa: E501
    Key("project_name", "the compose project name", _compose_project, shown="`name`, with `-` for `.`"),
    Key("services", "the services devbox supervises, by name (keys below); the others run as compose runs them", section=SERVICE, shown="required"),  # noqa: E501
)
TOP = Section(
    Key("name", "project name; the container is `NAME-devbox` and carries the label `devbox.project=NAME`", values.name, shown="the directory name"),  # noqa: E501
    Key("image", "image to run; pulled only when missing", values.text, DEFAULT_IMAGE),
    Key("build", "`{context: ., dockerfile: docker/Dockerfile, args: {}}`: build the image instead (tag `devbox-NAME:dev`, or `image:` when both are set)", section=BUILD),  # noqa: E501
    Key("workdir", "where the project appears in the container", values.workdir, DEFAULT_WORKDIR),
    APP,
    COMMAND,
    LISTEN,
    Key("ports", "`\"8000\"`, `\"8001:8000\"` (host:container), `\"0.0.0.0:8000:8000\"`; the host side binds 127.0.0.1 unless an address is given; the first one is the app's port", values.ports, (PortMapping("127.0.0.1", DEFAULT_PORT, DEFAULT_PORT),), shown='`["8000"]`'),  # noqa: E501
    ENV,
    Key("watch", "", section=WATCH, expand=True),
    Key("sync", "`bind` mounts the project, `copy` copies it in and sends each change; `auto` binds for a local engine and copies for a remote one", _choice(SYNC_MODES), "auto"),  # noqa: E501
    Key("reload", "", section=RELOAD, expand=True),
    Key("preload", "modules the warm template imports at start (e.g. `[numpy, myapp.models]`); a change to one of their files rebuilds the template", _modules, ()),  # noqa: E501
    Key("stop_grace", "seconds an old child gets to finish in-flight requests on reload or stop", lambda node: node.number(0), DEFAULT_STOP_GRACE),  # noqa: E501
    Key("user", "container user", values.text_or_number, shown="host `uid:gid` for a bind mount on Linux"),
    Key("compose", "", section=COMPOSE, expand=True),
    extensions=True,
)


# ---------------------------------------------------------------------------------------------
# The builders: what depends on more than one key
# ---------------------------------------------------------------------------------------------


def build_config(top: Node, path: Path) -> Config:
    """The Config of a devbox.yml whose located top-level node is `top`."""
    if not isinstance(top.value, dict):
        raise top.error(
            f"the top level must be a mapping of settings, got {top.describe()}",
            "write `key: value` lines, e.g. `app: myapp:app`",
        )
    fields = TOP.fields(top)
    root = top.ctx.root
    name = fields.get("name") if fields.has("name") else _default_name(top)
    image = fields.get("image") if fields.has("image") else None
    build = None
    if fields.has("build"):
        build = _build(fields.node("build"), tag=image or f"devbox-{name}:dev")
        image = build.tag
    watch = _watch(fields.node("watch"), WATCH, Watch(rebuild=_default_rebuild(build, root)))
    compose = _compose(fields.node("compose"), name, watch) if fields.has("compose") else None
    process = _process(fields, top, required=compose is None)
    return Config(
        path=path,
        root=root,
        name=name,
        image=image or DEFAULT_IMAGE,
        build=build,
        workdir=fields.get("workdir"),
        app=process.app,
        command=process.command,
        listen=process.listen,
        ports=fields.get("ports"),
        env=fields.get("env"),
        watch=watch,
        sync=fields.get("sync"),
        reload=Reload(**RELOAD.fields(fields.node("reload")).set_values()),
        preload=fields.get("preload"),
        stop_grace=fields.get("stop_grace"),
        user=fields.get("user"),
        compose=compose,
        warnings=tuple(top.ctx.warnings),
    )


def _default_name(top: Node) -> str:
    directory = top.ctx.root.name
    name = names.sanitize_name(directory)
    if not name:
        raise top.error(
            f"no `name` is set and none can be made from the directory name {directory!r}",
            f"set `name: myapp` ({names.RULE})",
        )
    return name


def _build(node: Node, tag: str) -> Build:
    if isinstance(node.value, str):  # compose's short form: `build: ./dir`
        fields = BUILD.fields(None)
        context = node.nonempty_text()
    else:
        fields = BUILD.fields(node)
        context = fields.get("context")
    dockerfile = fields.get("dockerfile")
    context_path = (node.ctx.root / context).resolve()
    return Build(
        context=context,
        dockerfile=dockerfile,
        args=fields.get("args"),
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


def _watch(node: Optional[Node], section: Section, defaults: Watch) -> Watch:
    """`watch` at the top level or in a compose service; what is not set comes from `defaults`."""
    return dataclasses.replace(defaults, **section.fields(node).set_values())


@dataclass(frozen=True)
class _Process:
    app: Optional[str]
    command: Optional[tuple[str, ...]]
    listen: str


def _process(fields: Fields, parent: Node, *, required: bool) -> _Process:
    """`app` or `command`, and `listen`: shared by the top level and compose services."""
    app_node, command_node, listen_node = fields.node("app"), fields.node("command"), fields.node("listen")
    if app_node and command_node:
        earlier, later = sorted((app_node, command_node), key=lambda n: n.line)
        raise later.error(
            f"cannot be set together with `{earlier.path.rpartition('.')[2]}` (line {earlier.line})",
            "keep one: `app` runs a WSGI callable in devbox's server, `command` runs any server",
        )
    app, command = fields.get("app"), fields.get("command")
    if app is None and command is None:
        if required:
            problem = "has nothing to run" if parent.path else "nothing to run"
            raise parent.error(problem, "set `app: module:callable` or `command: ...`")
        if listen_node:
            raise listen_node.error("needs `app` or `command` next to it")
        return _Process(None, None, "fd")
    if listen_node is None:
        listen = "fd" if app else values.default_listen(command)
    else:
        listen = fields.get("listen")
        if app and listen == "self":
            raise listen_node.error(
                "cannot be 'self' with `app`",
                "`app` is served on the supervisor's socket; `listen: self` is for a `command` that binds the port",
            )
    return _Process(app, command, listen)


def _compose(node: Node, name: str, watch: Watch) -> Compose:
    fields = COMPOSE.fields(node)
    root = node.ctx.root
    if fields.has("file"):
        file = fields.get("file")
    else:
        file = next((f for f in COMPOSE_FILE_NAMES if (root / f).is_file()), "")
        if not file:
            candidates = " or ".join(COMPOSE_FILE_NAMES)
            raise node.error(f"has no `file` and there is no {candidates} in {root}", "set `file: path/to/compose.yml`")
    project = fields.get("project_name") if fields.has("project_name") else names.compose_project(name)
    services_node = fields.node("services")
    if services_node is None:
        hint = "list the services devbox runs, e.g. `services: {web: {app: app:app, port: 8000}}`"
        raise node.error("has no `services`", hint)
    if not isinstance(services_node.value, dict):
        raise services_node.error(f"must be a mapping of service names, got {services_node.describe()}")
    services = tuple(_service(key, child, services_node, watch) for key, child in services_node.value.items())
    return Compose(file=file, file_path=(root / file).resolve(), project_name=project, services=services)


def _service(name: str, node: Node, parent: Node, watch: Watch) -> Service:
    if not names.is_service(name):
        raise parent.key_error(name, f"{parent.path} has an invalid service name {name!r}", "letters, digits, . _ -")
    fields = SERVICE.fields(node)
    process = _process(fields, node, required=True)
    return Service(
        name=name,
        app=process.app,
        command=process.command,
        listen=process.listen,
        port=fields.get("port"),
        env=fields.get("env"),
        watch=_watch(fields.node("watch"), SERVICE.keys["watch"].section, watch),
    )
