"""Where bytecode caches go under a pycache prefix (a container's PYTHONPYCACHEPREFIX): the
project's and devbox's own modules under the prefix, never in the project tree; the standard
library's read where they are (a fresh container would otherwise compile them all before its
first response)."""

import os
import sys
import time

from devbox.supervisor import bytecode, protocol
from tests.body_handler import BODY_HANDLER
from tests.supervisor.conftest import free_port, http_get, write_app


def test_private_caches_map_only_the_private_roots(monkeypatch, tmp_path):
    monkeypatch.setattr(bytecode, "_prefix", str(tmp_path / "prefix"))
    monkeypatch.setattr(bytecode, "_private", ["/app/", "/opt/devbox/"])
    assert bytecode.private_cache("/app/pkg/__pycache__/mod.cpython-311.pyc") == \
        str(tmp_path / "prefix" / "app" / "pkg" / "mod.cpython-311.pyc")
    assert bytecode.private_cache("/opt/devbox/devbox/supervisor/__pycache__/child.cpython-311.pyc") == \
        str(tmp_path / "prefix" / "opt" / "devbox" / "devbox" / "supervisor" / "child.cpython-311.pyc")
    for kept in ("/usr/lib/python3.11/__pycache__/socket.cpython-311.pyc",
                 "/application/__pycache__/x.cpython-311.pyc",  # not under /app/
                 "/app/mod.py"):  # a source, not a cache
        assert bytecode.private_cache(kept) == kept
    monkeypatch.setattr(bytecode, "_prefix", None)
    assert bytecode.private_cache("/app/__pycache__/m.cpython-311.pyc") == "/app/__pycache__/m.cpython-311.pyc"


def test_under_a_prefix_the_project_stays_clean_and_the_stdlib_is_not_recompiled(tmp_path, supervisor):
    prefix = tmp_path / "prefix"
    project = tmp_path / "project"
    project.mkdir()
    app = write_app(project, "v1", extra="import json, wsgiref.util\n")
    old = time.time() - 60  # older than RACY_SECONDS: its cache is written
    os.utime(app, (old, old))
    sup = supervisor(["--app", "app:app", "--port", "0", "--project-dir", str(project)],
                     env={bytecode.PREFIX_ENV: str(prefix)}, workdir=project)
    sup.wait_event(protocol.EVENT_READY, generation=1)
    assert http_get(sup.port) == (200, "v1")
    sup.reload()
    assert not any("__pycache__" in dirs for _, dirs, _ in os.walk(project))
    tag = sys.implementation.cache_tag
    assert (prefix / str(project).lstrip(os.sep) / ("app.%s.pyc" % tag)).is_file()
    cached = {name.split(".")[0] for _, _, files in os.walk(prefix) for name in files}
    assert "child" in cached and "parent" in cached  # devbox's own, under the prefix
    # Imported by the supervisor, the template or the child: read from the stdlib's own caches.
    assert not cached & {"socket", "selectors", "threading", "json", "argparse", "util", "handlers"}, cached


def _hash_cache(source_path, target):
    import py_compile

    py_compile.compile(str(source_path), cfile=str(target), doraise=True,
                       invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)


def test_shipped_caches_are_hash_based_ones_for_this_python(tmp_path):
    import importlib.util

    root = tmp_path / "opt"
    caches = root / "devbox" / "supervisor" / "__pycache__"
    caches.mkdir(parents=True)
    cache = caches / ("bytecode.%s.pyc" % sys.implementation.cache_tag)
    assert not bytecode.shipped_caches(str(root))  # none shipped
    cache.write_bytes(importlib.util.MAGIC_NUMBER + bytes(12))
    assert not bytecode.shipped_caches(str(root))  # timestamp-based: what Python's imports write
    cache.write_bytes(importlib.util.MAGIC_NUMBER + (0b11).to_bytes(4, "little") + bytes(8))
    assert bytecode.shipped_caches(str(root))
    cache.write_bytes(b"\0\0\r\n" + (0b11).to_bytes(4, "little") + bytes(8))  # another Python's
    assert not bytecode.shipped_caches(str(root))


def test_a_shipped_cache_is_current_while_its_source_hash_matches(tmp_path):
    import importlib.util

    source = tmp_path / "mod.py"
    source.write_text("VALUE = 1\n")
    target = tmp_path / "mod.pyc"
    _hash_cache(source, target)
    os.utime(source, (0, 0))  # mtimes do not matter to it
    assert bytecode._current(str(source), str(target), importlib.util.MAGIC_NUMBER)
    source.write_text("VALUE = 2\n")
    assert not bytecode._current(str(source), str(target), importlib.util.MAGIC_NUMBER)


# A command's own server, importing a dependency from outside the project and a module of it.
COMMAND_SERVER = BODY_HANDLER + """
import sys
import dep, views

class Handler(BodyHandler):
    def body(self):
        return ("%s %s" % (dep.VALUE, views.VALUE)).encode()

http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def cached_beside(source, cached_text, text):
    """Write `source` so that its adjacent cache (DIR/__pycache__) holds `cached_text`'s code
    and the file itself `text` (same size, same mtime): an import says which one it read."""
    import py_compile

    assert len(cached_text) == len(text)
    source.write_text(cached_text)
    old = time.time() - 60
    os.utime(source, (old, old))
    py_compile.compile(str(source), doraise=True)  # beside it: no prefix in this process
    source.write_text(text)
    os.utime(source, (old, old))


def test_a_commands_python_reads_installed_modules_caches_where_they_are(tmp_path, supervisor):
    """Under a pycache prefix a command's Python (through the shim) reads the adjacent cache of a
    module outside the project (the image's site-packages, compiled at install), and keeps the
    project's own caches under the prefix."""
    prefix, project, site = tmp_path / "prefix", tmp_path / "project", tmp_path / "site"
    project.mkdir()
    site.mkdir()
    cached_beside(site / "dep.py", 'VALUE = "cache"\n', 'VALUE = "fresh"\n')
    (project / "server.py").write_text(COMMAND_SERVER)
    views = project / "views.py"
    views.write_text('VALUE = "views"\n')
    old = time.time() - 60  # older than RACY_SECONDS: its cache is written
    for path in (views, project / "server.py"):
        os.utime(path, (old, old))
    port = free_port()
    sup = supervisor(["--port", str(port), "--", sys.executable, "server.py", str(port)],
                     env={bytecode.PREFIX_ENV: str(prefix),
                          protocol.ENV_PYTHONPATH: str(site)}, workdir=project)
    sup.wait_event(protocol.EVENT_READY, generation=1)
    assert http_get(port) == (200, "cache views"), sup.output()
    tag = sys.implementation.cache_tag
    assert (prefix / str(project).lstrip(os.sep) / ("views.%s.pyc" % tag)).is_file()
    assert not (project / "__pycache__").exists()
    assert not (prefix / str(site).lstrip(os.sep)).exists()
