"""`devbox init`: devbox.yml and docker/Dockerfile for an existing project, never overwriting."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator, List, Tuple

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


def init(root: Path, force: bool = False, image: str = "python:3.12-slim") -> Iterator[str]:
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
