"""`devbox init`: devbox.yml and docker/Dockerfile for an existing project, never overwriting;
with `--from-devcontainer`, the devbox.yml that means what the project's devcontainer.json does.

What to serve is read from the project's own files, the way its framework's users lay them out:
Django's manage.py and `<project>/wsgi.py` (or asgi.py), a Flask, FastAPI or Starlette app made
at module level, an application factory (`create_app`), else any module-level WSGI callable in
the usual files. The dependency lists (requirements*.txt, pyproject.toml) name the framework
when the code alone does not, and say what was found when no app was. Nothing is imported:
the files are read as text, so init works without the project's dependencies installed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, List, Mapping, Optional, Sequence, Tuple

import yaml

from devbox.config.model import DEFAULT_IMAGE
from devbox.config.names import sanitize_name
from devbox.errors import DevboxError

TEMPLATE = Path(__file__).resolve().parent / "templates" / "Dockerfile"
PORT = 8000
WSGI_NAMES = ("app", "application", "wsgi_app")
CANDIDATES = ("app.py", "main.py", "wsgi.py", "asgi.py", "server.py", "application.py")
FACTORY_NAMES = ("create_app", "make_app")
# Directories whose modules are never the app: environments, tests, docs, build output.
SKIP_DIRS = frozenset({".git", ".venv", "venv", "env", "node_modules", "__pycache__", "build", "dist",
                       "docs", "tests", "test", "migrations", "site-packages", ".tox", ".mypy_cache"})
MAX_READ = 200_000  # bytes read of one module: an app is made near the top of a hand-written file

# Framework name -> (its distribution on the package index, the class a module-level app is made from).
FRAMEWORKS = {
    "Flask": ("flask", "Flask"),
    "FastAPI": ("fastapi", "FastAPI"),
    "Starlette": ("starlette", "Starlette"),
    "Bottle": ("bottle", "Bottle"),
}
DJANGO = "Django"


@dataclass(frozen=True)
class Found:
    """What init found to serve: the framework, the `app:` value and the files that said so.
    An empty `app` means nothing was found; `framework` may still come from a dependency list."""

    framework: str
    app: str
    evidence: Tuple[str, ...] = ()

    def line(self) -> str:
        """The one line init prints about it."""
        where = f" ({', '.join(self.evidence)})" if self.evidence else ""
        if self.app:
            return f"found {self.framework}{where}: app: {self.app}"
        what = f"{self.framework}{where} but no app to serve" if self.framework else "no app to serve"
        return (f"found {what}: fill in `app:` in devbox.yml (module:callable of your WSGI or ASGI app, "
                f"e.g. main:app) or `command:` (the command that serves it)")


# -- reading the project --------------------------------------------------------------------------

def _read(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            return f.read(MAX_READ).decode("utf-8", "replace")
    except OSError:
        return ""


def modules(root: Path) -> List[Tuple[str, Path]]:
    """(dotted module name, file) of the modules an app could live in: the top level and one
    package level down, conventional names first."""
    found = []
    for path in sorted(root.glob("*.py")) + sorted(root.glob("*/*.py")):
        rel = path.relative_to(root)
        if any(part in SKIP_DIRS or part.startswith(".") for part in rel.parts[:-1]):
            continue
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if not parts or not all(p.isidentifier() for p in parts):
            continue
        found.append((".".join(parts), path))
    rank = {name: i for i, name in enumerate(CANDIDATES)}
    return sorted(found, key=lambda m: (len(m[1].relative_to(root).parts), rank.get(m[1].name, len(rank))))


_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _names(requirements: Sequence[str]) -> List[str]:
    """Normalized distribution names of requirement strings (`Flask>=3`, `uvicorn[standard]`)."""
    names = []
    for line in requirements:
        line = line.split("#", 1)[0].strip()
        match = _REQUIREMENT.match(line) if line and not line.startswith("-") else None
        if match:
            names.append(re.sub(r"[-_.]+", "-", match.group(1)).lower())
    return names


def _pyproject_requirements(text: str) -> List[str]:
    """Requirement strings of pyproject.toml: [project] dependencies and extras, dependency
    groups, and Poetry's dependency tables (their keys)."""
    try:
        import tomllib  # Python 3.11+
    except ImportError:  # older Pythons: the quoted strings of any `dependencies = [...]`
        arrays = re.findall(r"dependencies\s*=\s*\[(.*?)\]", text, re.S)
        return [s for array in arrays for s in re.findall(r"[\"']([^\"']+)[\"']", array)]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return []
    project = data.get("project", {})
    found = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        found += extra
    for group in data.get("dependency-groups", {}).values():
        found += [item for item in group if isinstance(item, str)]
    poetry = data.get("tool", {}).get("poetry", {})
    found += list(poetry.get("dependencies", {}))
    for group in poetry.get("group", {}).values():
        found += list(group.get("dependencies", {}))
    return [item for item in found if isinstance(item, str)]


def dependencies(root: Path) -> List[Tuple[str, str]]:
    """(file, distribution name) for every dependency the project lists."""
    found = []
    for path in sorted(root.glob("requirements*.txt")):
        found += [(path.name, name) for name in _names(_read(path).splitlines())]
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        found += [("pyproject.toml", name) for name in _names(_pyproject_requirements(_read(pyproject)))]
    return found


# -- finding the app ------------------------------------------------------------------------------

def _assigned(text: str, call: str) -> Optional[str]:
    """The name a module-level `NAME = [pkg.]Call(` assigns, if any."""
    match = re.search(r"^(\w+)\s*(?::[^=\n]*)?=\s*(?:\w+\.)?%s\(" % re.escape(call), text, re.M)
    return match.group(1) if match else None


def _imports(text: str, package: str) -> bool:
    return re.search(r"^\s*(?:from\s+%s[\s.]|import\s+%s\b)" % (package, package), text, re.M) is not None


class _Project:
    """The project's modules (name, path, text) and dependencies, read once for every finder."""

    def __init__(self, root: Path):
        self.root = root
        self.modules = [(name, path, _read(path)) for name, path in modules(root)]
        self.deps = dependencies(root)

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def listed(self, framework: str) -> Tuple[str, ...]:
        """Where the dependency lists name `framework`, as evidence ("flask in requirements.txt")."""
        files = sorted({f for f, name in self.deps if name == framework.lower()})
        return tuple(f"{framework.lower()} in {f}" for f in files)

    def framework_of(self, text: str) -> Optional[str]:
        """The framework a module imports, else the one framework the dependency lists name."""
        imported = [f for f in FRAMEWORKS if _imports(text, FRAMEWORKS[f][0])]
        named = imported[:1] or [f for f in FRAMEWORKS if self.listed(f)]
        return named[0] if len(named) == 1 else None


def _django(project: _Project) -> Optional[Found]:
    """Django's `<project>/wsgi.py` (or asgi.py) `application`, the settings' package first."""
    manage = project.root / "manage.py"
    settings = r"DJANGO_SETTINGS_MODULE[\"']\s*,\s*[\"']([\w.]+)[\"']"
    match = re.search(settings, _read(manage)) if manage.is_file() else None
    package = match.group(1).rpartition(".")[0] if match else None
    entries = [(name, path) for name, path, text in project.modules if path.name in ("wsgi.py", "asgi.py")
               and re.search(r"^application\s*=", text, re.M) and re.search(r"get_(?:w|a)sgi_application", text)]
    if not entries:
        return None
    # WSGI before ASGI: Django's default, and what runserver serves.
    name, path = min(entries, key=lambda e: (e[0].rpartition(".")[0] != package, e[1].name != "wsgi.py"))
    evidence = (("manage.py",) if manage.is_file() else ()) + (project.rel(path),) + project.listed(DJANGO)
    return Found(DJANGO, f"{name}:application", evidence)


def _instance(project: _Project) -> Optional[Found]:
    """An app made at module level: `app = Flask(__name__)`, `app = FastAPI()`..."""
    for framework, (_, cls) in FRAMEWORKS.items():
        for name, path, text in project.modules:
            var = _assigned(text, cls)
            if var:
                return Found(framework, f"{name}:{var}", (project.rel(path),) + project.listed(framework))
    return None


def _callable(project: _Project) -> Optional[Found]:
    """A module-level `app`/`application` in the usual files (`app = create_app()`, `default_app()`)."""
    assignment = re.compile(r"^(%s)\s*(?::[^=\n]*)?=" % "|".join(WSGI_NAMES), re.M)
    for name, path, text in project.modules:
        match = assignment.search(text) if path.name in CANDIDATES else None
        if match:
            framework = project.framework_of(text)
            evidence = (project.rel(path),) + (project.listed(framework) if framework else ())
            return Found(framework or "a WSGI app", f"{name}:{match.group(1)}", evidence)
    return None


def _factory(project: _Project) -> Optional[Found]:
    """An application factory, called the way gunicorn calls one: `module:create_app()`."""
    definition = re.compile(r"^(?:async\s+)?def\s+(%s)\s*\(" % "|".join(FACTORY_NAMES), re.M)
    for name, path, text in project.modules:
        match = definition.search(text)
        if match:
            framework = project.framework_of(text)
            evidence = (project.rel(path),) + (project.listed(framework) if framework else ())
            return Found(framework or "an app factory", f"{name}:{match.group(1)}()", evidence)
    return None


FINDERS = (_django, _instance, _callable, _factory)  # most specific first


def find_app(root: Path) -> Found:
    """What to serve in the project at `root`, and how that was told."""
    project = _Project(root)
    for finder in FINDERS:
        found = finder(project)
        if found:
            return found
    for framework in (DJANGO, *FRAMEWORKS):  # no app, but the dependency lists say which framework
        if project.listed(framework):
            return Found(framework, "", project.listed(framework))
    return Found("", "")


# -- writing --------------------------------------------------------------------------------------

def project_name(root: Path) -> str:
    """The `name:` to write: the directory's name made valid by config's own rule, so that
    `devbox up` accepts what `devbox init` wrote."""
    return sanitize_name(root.name) or "app"


def _yaml_scalar(value: str) -> str:
    """`value` as a YAML scalar: quoted when it has characters YAML would read otherwise."""
    return value if re.fullmatch(r"[\w.:]+", value) else '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')


def devbox_yml(name: str, app: str, image: str, port: int = PORT) -> str:
    """devbox.yml for the project; an empty `app` leaves the line for the user to fill in."""
    serve = (f"app: {_yaml_scalar(app)}\n" if app else
             "# Fill in what to serve: your WSGI or ASGI app as module:callable, e.g.\n"
             "# app: main:app\n"
             "# or the command that serves it, e.g.\n"
             "# command: python3 -m uvicorn main:app --fd 3\n")
    return (
        f"# devbox.yml — see the README's devbox.yml reference for every key.\n"
        f"name: {name}\n"
        f"build:\n"
        f"  context: .\n"
        f"  dockerfile: docker/Dockerfile\n"
        f"  args: {{BASE_IMAGE: \"{image}\"}}\n"
        f"{serve}"
        f"ports: [\"{port}\"]\n"
    )


def init(root: Path, force: bool = False, image: str = DEFAULT_IMAGE) -> Iterator[str]:
    """Write the files (all or none); yield what was found, then one line per file written."""
    found = find_app(root)
    what = f"app: {found.app}" if found.app else "no app yet"
    files: List[Tuple[Path, str, str]] = [
        (root / "devbox.yml", devbox_yml(project_name(root), found.app, image),
         f"created devbox.yml ({what}, port {PORT}, image {image})"),
        (root / "docker" / "Dockerfile", TEMPLATE.read_text(), "created docker/Dockerfile"),
    ]
    existing = [path for path, _, _ in files if path.exists()]
    if existing and not force:
        names = ", ".join(str(p.relative_to(root)) for p in existing)
        raise DevboxError(f"{names} already exists; nothing was written", "use `devbox init --force` to overwrite")
    yield found.line()
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
