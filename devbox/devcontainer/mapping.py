"""devcontainer.json -> devbox's Config.

Each devcontainer.json key is declared once in :data:`KEYS` (what devbox does with it, shown in
the README) or :data:`SKIPPED` (what is not devbox's to do: said once as a warning). The keys are
translated into a devbox.yml-shaped tree made of the file's own located nodes, which
:func:`devbox.config.builders.build_config` then reads through the devbox.yml schema: one set of
value rules, and every error still names devcontainer.json, the line and the devcontainer key
(``devcontainer.json:7: forwardPorts[1] 'x' is not a port``). What devbox.yml has no key for
(container options, the workspace mount, compose forwards, port labels) is set on the Config
afterwards.

Paths follow the spec: `build.dockerfile`, `build.context` and `dockerComposeFile` are relative
to the folder of devcontainer.json; everything devbox-shaped (`customizations.devbox`, watch
paths) is relative to the workspace folder, the folder that holds `.devcontainer/`.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from pathlib import Path
from typing import Mapping

from devbox.config import builders, names, values
from devbox.config.model import ContainerOptions
from devbox.config.tree import Node
from devbox.config_file import DEVCONTAINER_NAME
from devbox.devcontainer import variables
from devbox.devcontainer.app import AppMapping
from devbox.devcontainer.nodes import _mapping, _node
from devbox.devcontainer.ports import PortsMapping
from devbox.devcontainer.run_args import RunArgs
from devbox.devcontainer.variables import Variables
from devbox.errors import location

SOURCE = DEVCONTAINER_NAME
WORKSPACES = "/workspaces"  # the spec's default parent of workspaceFolder

KEYS = {
    "name": "the project name, made valid (`Python 3` becomes `python-3`)",
    "image": "the image to run",
    "build": "`dockerfile`, `context` (relative to devcontainer.json), `args`, `target`: the image is built",
    "dockerComposeFile": "compose file(s), relative to devcontainer.json; `service` is the one devbox supervises",
    "service": "the compose service devbox supervises (its app comes from `customizations.devbox`)",
    "runServices": "the compose services to start (default: all)",
    "workspaceFolder": "`workdir`: where the project is in the container (default `/workspaces/<folder name>`)",
    "workspaceMount": "replaces the project's own mount (e.g. a parent folder for a monorepo)",
    "forwardPorts": 'published on 127.0.0.1; the first is the app\'s port; `"service:port"` for compose services',
    "appPort": "published like `forwardPorts` (`8000` or `\"8001:8000\"`), before them",
    "portsAttributes": "`label`s, shown beside the URLs",
    "containerEnv": "`env`",
    "remoteEnv": "`env` too, after `containerEnv` (`${containerEnv:PATH}` is the image's value)",
    "containerUser": "`user`, unless `remoteUser` is set",
    "remoteUser": "`user`: the app and the lifecycle commands run as this user",
    "updateRemoteUserUID": "(default true) the user's account gets the host uid:gid, so bind-mounted files stay yours",
    "mounts": "`mounts` (docker's `--mount` strings or `{type, source, target}`)",
    "runArgs": "the options devbox applies: `-e -p -u -v --mount -w --cap-add --cap-drop --security-opt "
    "--privileged --init --shm-size --add-host --device --network --hostname --label`; others are refused",
    "init": "docker's `--init`",
    "privileged": "docker's `--privileged`",
    "capAdd": "docker's `--cap-add`",
    "securityOpt": "docker's `--security-opt`",
    "overrideCommand": "devbox's supervisor is always the command; `false` is said once",
    "initializeCommand": "`hooks.initialize`: on the host, before every start",
    "onCreateCommand": "`hooks.on_create`",
    "updateContentCommand": "`hooks.update_content`",
    "postCreateCommand": "`hooks.post_create`",
    "postStartCommand": "`hooks.post_start`",
    "postAttachCommand": "`hooks.post_attach`",
    "waitFor": "`hooks.wait_for`: the app starts once that command has finished (default `updateContentCommand`)",
    "customizations": (
        "`customizations.devbox` takes devbox.yml's keys (`app`, `command`, `listen`, `watch`, ...); other tools' "
        "customizations are skipped, and said once"
    ),
}
SKIPPED = {
    "features": "are install scripts devbox does not run: bake them into the image (a RUN step in the Dockerfile)",
    "overrideFeatureInstallOrder": "orders features, which devbox does not install",
    "hostRequirements": "are not checked by devbox",
    "shutdownAction": "is not needed: Ctrl-C or `devbox down` stops the container",
    "userEnvProbe": "is not done: the app gets the container's environment and `env`",
    "otherPortsAttributes": "is for ports devbox does not forward; only `forwardPorts` are published",
    "secrets": "are not asked for: set them in `containerEnv` from `${localEnv:NAME}`",
    "settings": "is VS Code's (now `customizations.vscode`)",
    "extensions": "is VS Code's (now `customizations.vscode`)",
    "devPort": "is VS Code's",
}
_LEGACY = ("dockerFile", "context")  # the build keys before `build` existed
_KNOWN = (*KEYS, *SKIPPED, *_LEGACY, "$schema")
HOOK_KEYS = {  # devcontainer.json key -> the moment (HOOK_MOMENTS)
    "initializeCommand": "initialize",
    "onCreateCommand": "on_create",
    "updateContentCommand": "update_content",
    "postCreateCommand": "post_create",
    "postStartCommand": "post_start",
    "postAttachCommand": "post_attach",
}


def reference_table() -> str:
    """The Markdown table of devcontainer.json keys that the README shows."""
    rows = ["| key | what devbox does with it |", "|---|---|"]
    rows += [f"| `{key}` | {doc} |" for key, doc in KEYS.items()]
    rows += [f"| `{key}` | skipped, and said once: {key} {reason} |" for key, reason in SKIPPED.items()]
    return "\n".join(rows) + "\n"


def workspace_folder(path: Path) -> Path:
    """The host folder a devcontainer.json belongs to: the one holding its `.devcontainer/`
    (`.devcontainer/devcontainer.json`, `.devcontainer/NAME/devcontainer.json`), or the folder
    of a `.devcontainer.json`."""
    parent = path.parent
    if path.name != ".devcontainer.json":
        for folder in (parent, parent.parent):
            if folder.name == ".devcontainer":
                return folder.parent
    return parent


def to_config(top: Node, path: Path, environ: Mapping[str, str]):
    """The Config of the devcontainer.json at `path` whose located tree is `top`; `top.ctx.root`
    is its workspace folder."""
    return translate(top, path, environ).config()


def translate(top: Node, path: Path, environ: Mapping[str, str]) -> _Mapping:
    """The translation of a devcontainer.json: its devbox.yml-shaped tree (:meth:`_Mapping.tree`)
    and the Config fields devbox.yml has no key for (`extra`). `devbox init --from-devcontainer`
    writes the tree out; :func:`to_config` builds the Config from both."""
    if not isinstance(top.value, dict):
        raise top.error(f"the top level must be an object, got {top.describe()}", 'e.g. {"image": "python:3.12-slim"}')
    for key in top.value:
        if key not in _KNOWN:
            raise top.key_error(key, f"unknown key '{key}'", _closest(key))
    keys = top.mapping(_KNOWN)
    _resolve_variables(top, keys, environ)
    translation = _Mapping(top, keys, path, environ)
    translation.translate()
    return translation


def _closest(key: str) -> str:
    """A did-you-mean hint that also finds a key written in another case (`postcreatecommand`)."""
    by_lower = {known.lower(): known for known in _KNOWN}
    close = difflib.get_close_matches(key.lower(), list(by_lower), n=1, cutoff=0.6)
    if close:
        return f"did you mean '{by_lower[close[0]]}'?"
    return "the README's devcontainer.json section lists the keys devbox reads"


def _resolve_variables(top: Node, keys: dict[str, Node], environ: Mapping[str, str]) -> None:
    """workspaceFolder first (it may use the host-side variables), then everything, with
    `${containerWorkspaceFolder}` known."""
    root = top.ctx.root
    folder_node = keys.get("workspaceFolder")
    if folder_node is not None and isinstance(folder_node.value, str):
        Variables(environ, root).resolve_tree(folder_node)
        folder = folder_node.value
    else:
        folder = "/" if "dockerComposeFile" in keys else f"{WORKSPACES}/{root.name}"
    Variables(environ, root, folder).resolve_tree(top)


class _Mapping(PortsMapping, AppMapping):
    """One translation: `out` collects the devbox.yml-shaped keys, `extra` the Config fields
    devbox.yml has no key for."""

    def __init__(self, top: Node, keys: dict[str, Node], path: Path, environ: Mapping[str, str]):
        self.top = top
        self.environ = environ
        self.keys = {k: v for k, v in keys.items() if v.value is not None}  # null means unset, as in devbox.yml
        self.path = path
        self.folder = path.parent.resolve()
        self.root = top.ctx.root
        self.ctx = top.ctx
        self.compose = "dockerComposeFile" in self.keys
        self.out: dict[str, Node] = {}
        self.extra: dict = {}
        self.env: dict[str, Node] = {}
        self.ports: list[Node] = []
        self.mounts: list[Node] = []
        self.options: dict = {}

    def warn(self, node: Node, text: str) -> None:
        self.ctx.warnings.append(f"{location(self.ctx.display, node.line)}{text}")

    def translate(self) -> None:
        for key, reason in SKIPPED.items():
            if key in self.keys:
                self.warn(self.keys[key], self._skipped(key, reason))
        self._name()
        self._image()
        self._workspace()
        self._env()
        self._user()
        self._ports()
        self._hooks()
        if "mounts" in self.keys:
            self.mounts.extend(self.keys["mounts"].items())
        self._container_options()
        self._run_args()
        self._override_command()
        self._collect()
        devbox = self._customizations()
        if self.compose:
            self._compose(devbox)
        if "env" in devbox and "env" in self.out:  # customizations.devbox.env adds to containerEnv
            self.out["env"] = _mapping({**self.out["env"].value, **_object(devbox.pop("env"))}, self.out["env"])
        self.out.update(devbox)
        if not self.compose and "app" not in self.out and "command" not in self.out:
            self.out["app"] = self._detected_app()

    def tree(self) -> Node:
        """The devbox.yml-shaped tree: a devbox.yml with these keys means the same."""
        return _mapping(self.out, self.top)

    def config(self):
        config = builders.build_config(self.tree(), self.path)
        extra = dict(self.extra)
        if self.compose:
            extra["compose"] = dataclasses.replace(config.compose, **extra.pop("compose_extra"))
        return dataclasses.replace(config, source=SOURCE, **extra)

    def _skipped(self, key: str, reason: str) -> str:
        node = self.keys[key]
        if key == "features" and isinstance(node.value, dict) and node.value:
            return f"features ({', '.join(node.value)}) {reason}"
        return f"{key} {reason}"

    # -- what runs -------------------------------------------------------------------------------

    def _name(self) -> None:
        node = self.keys.get("name")
        if node is not None:
            name = names.sanitize_name(node.text())
            if name:
                self.out["name"] = _node(name, node)

    def _image(self) -> None:
        if "image" in self.keys:
            self.out["image"] = self.keys["image"]
        build = self.keys.get("build")
        if build is None and "dockerFile" in self.keys:  # the legacy spelling
            legacy = {"dockerfile": self.keys["dockerFile"], "context": self.keys.get("context")}
            build = _mapping({k: v for k, v in legacy.items() if v is not None}, self.keys["dockerFile"])
        if build is not None:
            self.out["build"] = self._build(build)
        if not self.compose and build is None and "image" not in self.keys:
            raise self.top.error("has no `image`, `build` or `dockerComposeFile`", 'e.g. "image": "python:3.12-slim"')

    def _build(self, node: Node) -> Node:
        fields = node.mapping(("dockerfile", "context", "args", "target", "cacheFrom", "options"))
        for key in ("cacheFrom", "options"):
            if key in fields:
                self.warn(fields[key], f"build.{key} is not used: devbox builds with the engine's defaults")
        dockerfile = fields.get("dockerfile")
        if dockerfile is None:
            raise node.error("has no `dockerfile`", 'e.g. "build": {"dockerfile": "Dockerfile", "context": ".."}')
        context_node = fields.get("context")
        context = (self.folder / (context_node.nonempty_text() if context_node else ".")).resolve()
        dockerfile_path = (self.folder / dockerfile.nonempty_text()).resolve()
        out = {
            "context": _node(os.path.relpath(context, self.root), context_node or node),
            "dockerfile": _node(os.path.relpath(dockerfile_path, context), dockerfile),
        }
        out.update({k: fields[k] for k in ("args", "target") if k in fields})
        return _mapping(out, node)

    def _workspace(self) -> None:
        folder = self.keys.get("workspaceFolder")
        if folder is not None:
            self.out["workdir"] = folder
        elif not self.compose:
            self.out["workdir"] = _node(f"{WORKSPACES}/{self.root.name}", self.top, path="workspaceFolder")
        node = self.keys.get("workspaceMount")
        if node is None:
            return
        mount = values.mount(node)
        workdir = values.workdir(self.out["workdir"]) if "workdir" in self.out else None
        if (mount.type, mount.source, mount.target) != ("bind", str(self.root), workdir):
            self.extra["workspace_mount"] = mount  # else it is the project's own mount, as devbox makes it

    def _env(self) -> None:
        container = self.keys.get("containerEnv")
        if container is not None:
            self.env.update(_object(container))
        remote = self.keys.get("remoteEnv")
        if remote is None:
            return
        _object(remote)
        known = {name: child.value for name, child in self.env.items() if isinstance(child.value, str)}
        for name, child in remote.value.items():
            if child.value is None:  # the spec's way to unset a variable
                self.env.pop(name, None)
                continue
            if isinstance(child.value, str):
                child.value = variables.resolve_container_env(child.value, known, keep_missing=True)
            self.env[name] = child

    def _user(self) -> None:
        remote, container = self.keys.get("remoteUser"), self.keys.get("containerUser")
        user = remote or container
        if user is None:
            return
        if remote is not None and container is not None and remote.value != container.value:
            self.warn(container, f"containerUser {container.value!r} is not used: devbox runs the app as remoteUser {remote.value!r}")
        self.out["user"] = user
        update = self.keys.get("updateRemoteUserUID")
        self.extra["update_remote_user_uid"] = update.boolean() if update is not None else True

    def _hooks(self) -> None:
        hooks = {moment: self.keys[key] for key, moment in HOOK_KEYS.items() if key in self.keys}
        wait = self.keys.get("waitFor")
        if wait is not None:
            hooks["wait_for"] = _node(HOOK_KEYS[wait.choice(tuple(HOOK_KEYS))], wait)
        if hooks:
            self.out["hooks"] = _mapping(hooks, next(iter(hooks.values())))

    def _container_options(self) -> None:
        for key, option in (("init", "init"), ("privileged", "privileged")):
            if key in self.keys:
                self.options[option] = self.keys[key].boolean()
        for key, option in (("capAdd", "cap_add"), ("securityOpt", "security_opt")):
            if key in self.keys:
                self.options[option] = tuple(item.nonempty_text() for item in self.keys[key].items())

    def _run_args(self) -> None:
        node = self.keys.get("runArgs")
        if node is None:
            return
        if self.compose:
            self.warn(node, "runArgs is for image and build configs: set container options in the compose file")
            return
        RunArgs(self, node).apply()

    def _override_command(self) -> None:
        node = self.keys.get("overrideCommand")
        if node is not None and not node.boolean() and not self.compose:
            self.warn(node, "overrideCommand false: devbox's supervisor is the container's command, so the image's CMD "
                      "does not run (set customizations.devbox.command to run it under the supervisor)")  # fmt: skip

    def _collect(self) -> None:
        """The gathered lists and options, as devbox.yml keys and Config fields."""
        if self.env:
            self.out["env"] = _mapping(dict(self.env), next(iter(self.env.values())))
        if self.ports:
            published = {}  # the same port from appPort, forwardPorts and runArgs is published once
            for item in self.ports:
                mapping = values.port_mapping(item)
                published.setdefault((mapping.host_ip, mapping.host_port), item)
            ports = list(published.values())
            self.out["ports"] = Node(ports, ports[0].line, ports[0].path, self.ctx)
        if self.mounts:
            self.out["mounts"] = Node(self.mounts, self.mounts[0].line, "mounts", self.ctx)
        if self.options:
            self.extra["options"] = ContainerOptions(**self.options)


def _object(node: Node) -> dict[str, Node]:
    if not isinstance(node.value, dict):
        raise node.error(f"must be an object of names and values, got {node.describe()}", 'e.g. {"DEBUG": "1"}')
    return node.value
