"""The schema: every devbox.yml key declared once, with its rule, default and one-line doc.

As gunicorn declares each setting once (``gunicorn/config.py``), a :class:`Key` here is the only
place a key is named: the allowed keys of each mapping, "null means the default", the
did-you-mean hint and the README's reference tables (:func:`reference_table`) all come from
these declarations. What depends on several keys at once is done in :mod:`.builders`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Optional

from devbox.config import names, values
from devbox.config.model import (
    COMPOSE_FILE_NAMES, DEFAULT_DEBOUNCE_MS, DEFAULT_DOCKERFILE, DEFAULT_IMAGE, DEFAULT_NO_RELOAD,
    DEFAULT_PORT, DEFAULT_REBUILD, DEFAULT_STOP_GRACE, DEFAULT_WAIT_FOR, DEFAULT_WORKDIR, HOOK_MOMENTS,
    LISTEN_MODES, SYNC_MODES, PortMapping,
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
        raise node.error(f"{project!r} is not a compose project name (lowercase letters, digits, _ and -)")
    return project


# ---------------------------------------------------------------------------------------------
# The keys
# ---------------------------------------------------------------------------------------------

APP = Key(
    "app",
    doc=(
        "`module:callable` of a WSGI or ASGI app, or a factory called with literal arguments "
        "(`module:create_app(debug=True)`), called in each child; WSGI apps are served by the "
        "supervisor's threaded server, ASGI apps (FastAPI, Starlette, Django's asgi) by the "
        "uvicorn installed in the image"
    ),
    parse=values.app,
)
COMMAND = Key(
    "command",
    doc="any command to run instead of `app` (string or list), e.g. `uvicorn main:app --fd 3`",
    parse=values.command,
)
LISTEN = Key(
    "listen",
    doc=(
        "`fd`: the command serves on the supervisor's socket, fd 3 (`uvicorn --fd 3`, `gunicorn --bind "
        "fd://3` or a bare `gunicorn`, `flask run`, `manage.py runserver`, any `python ...` command whose "
        "server binds the port in Python, Bottle's `run(reloader=True)` included: devbox sets what makes them "
        "take it); `self`: it binds the port itself (servers written in C or Rust, such as granian)"
    ),
    parse=_choice(LISTEN_MODES),
    shown="`fd` for `app`, known servers and `python ...` commands, else `self`",
)
ENV = Key(
    "env",
    doc="environment of the app (mapping, or a list of `K=V`)",
    parse=values.pairs,
    default=(),
    shown="`{}`",
)
WATCH = Section(
    Key("paths", doc="what to watch, inside the project", parse=values.watch_paths, default=(".",)),
    Key(
        "ignore",
        doc=(
            "more ignore patterns, on top of `.gitignore` files, `.dockerignore` and built-in defaults "
            "(`.git`, `__pycache__`, `.venv`, `node_modules`, editor swap files...)"
        ),
        parse=values.patterns,
        default=(),
    ),
    Key(
        "rebuild",
        doc="a change rebuilds the image and recreates the container",
        parse=values.patterns,
        default=DEFAULT_REBUILD,
        shown="Dockerfiles, `requirements*.txt`, `pyproject.toml`, lock files",
    ),
    Key(
        "no_reload",
        doc=(
            "changes are synced without restarting the app (templates are not in the default: "
            "Jinja and Django cache them, so a template edit reloads)"
        ),
        parse=values.patterns,
        default=DEFAULT_NO_RELOAD,
    ),
    Key(
        "debounce_ms",
        doc=(
            "how long the tree must be quiet before a burst of changes is acted on (a lone save does not "
            "wait for it); a long burst waits a little longer, up to 0.5 s"
        ),
        parse=lambda node: node.integer(0),
        default=DEFAULT_DEBOUNCE_MS,
    ),
)
RELOAD = Section(
    Key(
        "warm",
        doc=(
            "fork each new child from a template that has imported the dependencies (`false`: a fresh "
            "interpreter per reload)"
        ),
        parse=values.boolean,
        default=True,
    ),
    Key(
        "overlap",
        doc="the old child serves until the new one is ready (`false`: it stops when the reload starts)",
        parse=values.boolean,
        default=True,
    ),
)
DASHBOARD = Section(
    Key(
        "port",
        doc="the port of the agent's dashboard (`devbox open`), on 127.0.0.1 only; `0`: a free one",
        parse=lambda node: node.integer(0, 65535),
        default=0,
    ),
)
BUILD = Section(
    Key("context", doc="the build context, relative to devbox.yml", parse=values.text, default="."),
    Key("dockerfile", doc="relative to the context", parse=values.text, default=DEFAULT_DOCKERFILE),
    Key("args", doc="build arguments (mapping, or a list of `K=V`)", parse=values.pairs, default=()),
    Key("target", doc="the Dockerfile stage to build (default: the last)", parse=values.text),
)
_HOOK_DOCS = {
    "initialize": (
        "a command run on the host before every start: a string (run by a shell), a list (an argv) or a "
        "mapping of named commands, run in parallel (the same forms for each moment below)"
    ),
    "on_create": "runs in the container once, when it is created",
    "update_content": "runs in the container once, after `on_create`",
    "post_create": "runs in the container once, after `update_content`",
    "post_start": "runs in the container at every start",
    "post_attach": "runs in the container each time devbox attaches to it (`devbox up`)",
}
HOOKS = Section(
    *(
        Key(
            moment,
            doc=_HOOK_DOCS[moment],
            parse=lambda node, moment=moment: values.hooks(node, moment),
            default=(),
        )
        for moment in HOOK_MOMENTS
    ),
    Key(
        "wait_for",
        doc="the app starts once this moment's commands have finished; the later ones run beside it",
        parse=_choice(HOOK_MOMENTS),
        default=DEFAULT_WAIT_FOR,
    ),
)
SERVICE_WATCH = WATCH.without("debounce_ms")
SERVICE = Section(
    APP,
    COMMAND,
    LISTEN,
    Key(
        "port",
        doc="the container port the supervisor binds",
        parse=lambda node: node.integer(1, 65535),
        default=DEFAULT_PORT,
    ),
    ENV,
    Key(
        "watch",
        doc=(
            "`paths`, `ignore`, `rebuild`, `no_reload` as in `watch`; what is not set comes from the "
            "top-level `watch`"
        ),
        section=SERVICE_WATCH,
        shown="the top-level `watch`",
    ),
)
COMPOSE = Section(
    Key(
        "file",
        doc="the compose file, relative to devbox.yml; never modified",
        parse=values.text,
        shown="the first of " + ", ".join(f"`{n}`" for n in COMPOSE_FILE_NAMES),
    ),
    Key(
        "project_name",
        doc="the compose project name",
        parse=_compose_project,
        shown="`name`, with `-` for `.`",
    ),
    Key(
        "services",
        doc="the services devbox supervises, by name (keys below); the others run as compose runs them",
        section=SERVICE,
        shown="required",
    ),
)
TOP = Section(
    Key(
        "name",
        doc="project name; the container is `NAME-devbox` and carries the label `devbox.project=NAME`",
        parse=values.name,
        shown="the directory name",
    ),
    Key("image", doc="image to run; pulled only when missing", parse=values.text, default=DEFAULT_IMAGE),
    Key(
        "build",
        doc=(
            "`{context: ., dockerfile: docker/Dockerfile, args: {}}`: build the image instead (tag "
            "`devbox-NAME:dev`, or `image:` when both are set)"
        ),
        section=BUILD,
    ),
    Key(
        "workdir",
        doc="where the project appears in the container",
        parse=values.workdir,
        default=DEFAULT_WORKDIR,
    ),
    APP,
    COMMAND,
    LISTEN,
    Key(
        "ports",
        doc=(
            '`"8000"`, `"8001:8000"` (host:container), `"0.0.0.0:8000:8000"`; the host side binds '
            "127.0.0.1 unless an address is given; the first one is the app's port"
        ),
        parse=values.ports,
        default=(PortMapping("127.0.0.1", DEFAULT_PORT, DEFAULT_PORT),),
        shown='`["8000"]`',
    ),
    ENV,
    Key("watch", doc="", section=WATCH, expand=True),
    Key(
        "sync",
        doc=(
            "`bind` mounts the project, `copy` copies it in and sends each change; `auto` binds for a "
            "local engine and copies for a remote one"
        ),
        parse=_choice(SYNC_MODES),
        default="auto",
    ),
    Key("reload", doc="", section=RELOAD, expand=True),
    Key(
        "preload",
        doc=(
            "modules the warm template imports at start (e.g. `[numpy, myapp.models]`); a change to one "
            "of their files rebuilds the template"
        ),
        parse=_modules,
        default=(),
    ),
    Key(
        "stop_grace",
        doc="seconds an old child gets to finish in-flight requests on reload or stop",
        parse=lambda node: node.number(0),
        default=DEFAULT_STOP_GRACE,
    ),
    Key(
        "user",
        doc="container user",
        parse=values.text_or_number,
        shown="host `uid:gid` for a bind mount on Linux",
    ),
    Key(
        "mounts",
        doc=(
            "more mounts: docker's `--mount` form (`type=bind,source=../data,target=/data,readonly`) or "
            "`{type, source, target, read_only}`; a relative bind source is relative to devbox.yml"
        ),
        parse=values.mounts,
        default=(),
    ),
    Key("hooks", doc="", section=HOOKS, expand=True),
    Key(
        "live_reload",
        doc=(
            "a page of the app open in a browser reloads when the new code serves, shows a load error "
            "over itself and swaps a saved stylesheet (a script in HTML answers, through devbox's proxy "
            "on the host port); `false`: the app's answers reach the browser untouched"
        ),
        parse=values.boolean,
        default=True,
    ),
    Key("dashboard", doc="", section=DASHBOARD, expand=True),
    Key("compose", doc="", section=COMPOSE, expand=True),
    extensions=True,
)
