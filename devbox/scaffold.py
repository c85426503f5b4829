"""`devbox init`: devbox.yml and docker/Dockerfile for an existing project, never overwriting;
with `--from-devcontainer`, the devbox.yml that means what the project's devcontainer.json does."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterator, List, Mapping, Optional, Tuple

import yaml

from devbox.config.model import DEFAULT_IMAGE
from devbox.config.names import sanitize_name
from devbox.errors import DevboxError

TEMPLATE = Path(__file__).resolve().parent / "templates" / "Dockerfile"
WSGI_NAMES = ("app", "application", "wsgi_app")
CANDIDATES = ("app.py", "main.py", "wsgi.py", "server.py", "application.py")


def guess_app(root: Path) -> str:
    """`module:callable` of the likeliest WSGI app at the top of the project, else app:app."""
    assignment = re.compile(r"^(%s)\s*=" % "|".join(WSGI_NAMES), re.M)
    for name in CANDIDATES:
        path = root / name
        if path.is_file():
            match = assignment.search(path.read_text(errors="replace"))
            if match:
                return f"{path.stem}:{match.group(1)}"
    return "app:app"


def project_name(root: Path) -> str:
    """The `name:` to write: the directory's name made valid by config's own rule, so that
    `devbox up` accepts what `devbox init` wrote."""
    return sanitize_name(root.name) or "app"


def devbox_yml(name: str, app: str, image: str, port: int = 8000) -> str:
    return (
        f"# devbox.yml — see the README's devbox.yml reference for every key.\n"
        f"name: {name}\n"
        f"build:\n"
        f"  context: .\n"
        f"  dockerfile: docker/Dockerfile\n"
        f"  args: {{BASE_IMAGE: \"{image}\"}}\n"
        f"app: {app}\n"
        f"ports: [\"{port}\"]\n"
    )


def init(root: Path, force: bool = False, image: str = DEFAULT_IMAGE) -> Iterator[str]:
    """Write the files (all or none); yield one line per file written."""
    app = guess_app(root)
    files: List[Tuple[Path, str, str]] = [
        (root / "devbox.yml", devbox_yml(project_name(root), app, image),
         f"created devbox.yml (app: {app}, port 8000, image {image})"),
        (root / "docker" / "Dockerfile", TEMPLATE.read_text(), "created docker/Dockerfile"),
    ]
    existing = [path for path, _, _ in files if path.exists()]
    if existing and not force:
        names = ", ".join(str(p.relative_to(root)) for p in existing)
        raise DevboxError(f"{names} already exists; nothing was written", "use `devbox init --force` to overwrite")
    for path, text, line in files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        yield line


# What devbox.yml has no key for, by the Config field a devcontainer.json sets it in.
_NOT_CARRIED = {
    "options": "container options (runArgs, init, privileged, capAdd, securityOpt)",
    "workspace_mount": "workspaceMount",
    "update_remote_user_uid": "updateRemoteUserUID",
    "forwards": "forwardPorts of compose services",
    "port_labels": "portsAttributes labels",
    "overrides": "compose files after the first",
    "run_services": "runServices",
}
_LOCAL_ENV_RE = re.compile(r"\$\{(?:localEnv|env):([^}:]+)")


def from_devcontainer(
    root: Path, path: Optional[Path] = None, *, force: bool = False, environ: Optional[Mapping[str, str]] = None
) -> Iterator[str]:
    """Write the devbox.yml that means what `path` (default: the devcontainer.json of `root`)
    does; yield what was written and what devbox.yml cannot say."""
    from devbox import config, devcontainer  # config imports scaffold's detection through devcontainer

    environ = os.environ if environ is None else environ
    path = path if path is None or path.is_absolute() else root / path
    if path is None:
        path = devcontainer.find(root)
        if path is None:
            raise DevboxError(f"no .devcontainer/devcontainer.json in {root}", "pass its path: --from-devcontainer PATH")
    target = devcontainer.workspace_folder(path.resolve()) / "devbox.yml"
    if target.exists() and not force:
        raise DevboxError(f"{_shown(target, root)} already exists; nothing was written", "use `devbox init --force` to overwrite")
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DevboxError(f"cannot read {path}: {exc.strerror or exc}", "check the path") from None
    shown = _shown(path, root)
    translation = devcontainer.translate(raw, path, display=shown, environ=environ)
    text = devbox_yml_from(translation.tree(), shown)
    written = config.parse(text, target, display="devbox.yml", environ=environ)  # what it says must load
    target.write_text(text)
    yield f"created {_shown(target, root)} from {shown} (app: {written.app or ' '.join(written.command or ())}, image {written.image})"
    lost = [doc for field, doc in _NOT_CARRIED.items() if _is_set(translation.extra, field)]
    if lost:
        yield f"not carried over (devbox.yml has no key for them, devbox up on {shown} applies them): {', '.join(lost)}"
    resolved = sorted(set(_LOCAL_ENV_RE.findall(raw)))
    if resolved:
        yield (f"{', '.join(resolved)}: written with this machine's values (write ${{{resolved[0]}}} in devbox.yml "
               "to read it at each start)")  # fmt: skip


def devbox_yml_from(tree, source: str) -> str:
    """A devbox.yml from a devbox.yml-shaped located tree (see devbox.devcontainer.mapping)."""
    header = f"# devbox.yml written by `devbox init --from-devcontainer` from {source}.\n"
    return header + yaml.safe_dump(_plain(tree), sort_keys=False, allow_unicode=True, width=100)


def _plain(node) -> Any:
    """Plain YAML values; a `$` is doubled, since devbox.yml interpolates and devcontainer.json
    does not (`echo $HOME` in a command stays as it was)."""
    value = node.value
    if isinstance(value, dict):
        return {key: _plain(child) for key, child in value.items()}
    if isinstance(value, list):
        return [_plain(child) for child in value]
    return value.replace("$", "$$") if isinstance(value, str) else value


def _is_set(extra: dict, field: str) -> bool:
    if field in ("overrides", "run_services"):
        value = extra.get("compose_extra", {}).get(field)
        return bool(value) or (field == "run_services" and value is not None)
    return bool(extra.get(field))


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
