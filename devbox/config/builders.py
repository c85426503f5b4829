"""The builders: a Config from the keys the schema read, for what depends on more than one key
(the build tag, the default rebuild list, `app` vs `command` and the `listen` default, compose's
project name and the services' watch defaults)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from devbox.config import names, values
from devbox.config.model import (
    COMPOSE_FILE_NAMES, DEFAULT_REBUILD, Build, Compose, Config, Dashboard, Hooks, Reload, Service, Watch,
)  # fmt: skip
from devbox.config.schema import BUILD, COMPOSE, DASHBOARD, HOOKS, RELOAD, SERVICE, SERVICE_WATCH, TOP, WATCH, Fields, Section
from devbox.config.tree import Node
from devbox.supervisor import protocol


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
    image = fields.get("image")
    build = None
    if fields.has("build"):
        build = _build(fields.node("build"), tag=image if fields.has("image") else f"devbox-{name}:dev")
        image = build.tag
    watch = _watch(fields.node("watch"), WATCH, Watch(rebuild=_default_rebuild(build, root)))
    compose = _compose(fields.node("compose"), name, watch) if fields.has("compose") else None
    process = _process(fields, top, required=compose is None)
    return Config(
        path=path,
        root=root,
        name=name,
        image=image,
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
        hooks=Hooks(**HOOKS.fields(fields.node("hooks")).set_values()),
        mounts=fields.get("mounts"),
        dashboard=Dashboard(**DASHBOARD.fields(fields.node("dashboard")).set_values()),
        warnings=tuple(top.ctx.warnings),
        live_reload=fields.get("live_reload"),
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
        target=fields.get("target"),
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
        return _Process(None, None, protocol.LISTEN_MODE_FD)
    if listen_node is None:
        listen = protocol.LISTEN_MODE_FD if app else values.default_listen(command)
    else:
        listen = fields.get("listen")
        if app and listen == protocol.LISTEN_MODE_SELF:
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
        watch=_watch(fields.node("watch"), SERVICE_WATCH, watch),
    )
