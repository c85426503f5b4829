"""The tiny app every contender serves, its launch scripts, and honest edits to it.

One project directory per kind of session (plain, with 20,000 extra files, with a heavy import),
reused by every contender in turn. The app is one WSGI callable whose body names the version of
app.py; each edit bumps the version, changes the file's size and moves its mtime strictly forward,
so no cache (size, mtime at 1 s resolution, content hash) can mistake it for the previous one.
"""

from __future__ import annotations

import os
import textwrap
import time
from pathlib import Path
from typing import Optional

HEAVY_MODULE = "benchheavy"
HEAVY_SECONDS = 0.4
EXTRA_DIRS = 200  # 20,000 extra files = 200 directories of 100 modules, like a vendored library

APP = '''\
"""The benchmark app: one route whose body names the version of this file."""
{imports}
VERSION = "{version}"
{padding}

def app(environ, start_response):
    body = ("bench " + VERSION + "\\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
'''

HEAVY = f'''\
"""Stands for a big dependency (a framework, an ORM): about {HEAVY_SECONDS} s of CPU at import."""
import time

_start = time.process_time()
while time.process_time() - _start < {HEAVY_SECONDS}:
    sum(range(1000))
'''

# How each kind of server is launched, as its users write it. All take the port as argv[1].
SCRIPTS = {
    "serve_wsgiref.py": '''\
        """A plain wsgiref server: what the watchfiles CLI restarts and the harness kills."""
        import sys
        from wsgiref.simple_server import make_server

        from app import app

        host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
        make_server(host, int(sys.argv[1]), app).serve_forever()
        ''',
    "serve_bottle.py": '''\
        import sys

        import bottle

        from app import app

        bottle.run(app=app, host="127.0.0.1", port=int(sys.argv[1]), reloader=True, quiet=True)
        ''',
    "serve_werkzeug.py": '''\
        import sys

        from werkzeug.serving import run_simple

        from app import app

        run_simple("127.0.0.1", int(sys.argv[1]), app, use_reloader=True, reloader_type="stat")
        ''',
}


def marker(version: str) -> bytes:
    """What the response body contains once `version` is served."""
    return f"bench {version}\n".encode()


class Project:
    """A project directory with the app, the launch scripts and (optionally) extras."""

    def __init__(self, root: Path, heavy: bool = False, extra_files: int = 0, site: Optional[Path] = None):
        self.root = Path(root)
        self.heavy = heavy
        self.extra_files = extra_files
        self.site = site  # where the heavy module lives: outside the watched tree, like site-packages
        self.app_path = self.root / "app.py"
        self.version = ""
        self.edits = 0
        self._last_mtime_ns = 0

    def create(self) -> "Project":
        self.root.mkdir(parents=True, exist_ok=True)
        for name, text in SCRIPTS.items():
            (self.root / name).write_text(textwrap.dedent(text))
        if self.site is not None:  # installed for every project, imported by the heavy one
            self.site.mkdir(parents=True, exist_ok=True)
            (self.site / f"{HEAVY_MODULE}.py").write_text(HEAVY)
        if self.extra_files:
            self._write_extra_files()
        return self

    def _write_extra_files(self) -> None:
        per_dir = max(1, self.extra_files // EXTRA_DIRS)
        for d in range(EXTRA_DIRS):
            folder = self.root / "vendor" / f"pkg{d:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "__init__.py").touch()
            for i in range(per_dir - 1):
                (folder / f"mod{i:03d}.py").write_text(f"VALUE = {d * per_dir + i}\n")

    def marker(self, version: str) -> bytes:
        """What the response body contains once `version` is served."""
        return marker(version)

    def file_count(self) -> int:
        return sum(len(files) for _, _, files in os.walk(self.root))

    def app_source(self, version: str, edit: int) -> str:
        imports = f"import {HEAVY_MODULE}  # noqa: F401 - costs ~{HEAVY_SECONDS} s, like a framework\n" if self.heavy else ""
        # The padding length cycles through 7 sizes, so consecutive edits never have equal sizes.
        padding = "# " + "x" * (10 + edit % 7)
        return APP.format(imports=imports, version=version, padding=padding)

    def write(self, version: str) -> float:
        """Save app.py serving `version` (truncate and write, as most editors do); the monotonic
        time right after the write, which is t0 of the edit."""
        source = self.app_source(version, self.edits)
        self.edits += 1
        with open(self.app_path, "w") as f:
            f.write(source)
        t0 = time.monotonic()
        mtime_ns = os.stat(self.app_path).st_mtime_ns
        if mtime_ns <= self._last_mtime_ns:
            # Never happens at the pace of these edits; if it did, move it strictly forward.
            mtime_ns = self._last_mtime_ns + 1_000_000
            os.utime(self.app_path, ns=(mtime_ns, mtime_ns))
        self._last_mtime_ns = mtime_ns
        self.version = version
        return t0
