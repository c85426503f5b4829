"""Warm reloads: app children forked from a template that has imported the dependencies.

The project is tmp_path/project (the supervisor's cwd); dependencies live in tmp_path/site, on
PYTHONPATH, outside the project as site-packages would be. A dependency appends a line to
imports.log each time it is imported, so the log counts real imports."""

import os
import signal

import pytest

from devbox.supervisor import protocol
from tests.supervisor.conftest import TIMEOUT, http_get, pid_alive
from tests.waiting import wait_until

DEPENDENCY = """
import os
with open(%(log)r, "a") as _log:
    _log.write("imported by %%d\\n" %% os.getpid())
VALUE = %(value)r
"""

APP = """
import dep
BODY = %r
def app(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [(BODY + ' ' + dep.VALUE).encode()]
"""

# Stands for a library that starts a thread at import (a metrics flusher, a connection pool).
THREADED = """
import threading, time
threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
"""

# A mock: fork() failing (out of memory or processes) cannot be made to happen on purpose, so
# this preloaded module replaces os.fork in the template with one that fails as fork does.
NO_FORK = """
import errno, os
def _fork():
    raise OSError(errno.EAGAIN, "Resource temporarily unavailable")
os.fork = _fork
"""


class Project:
    """tmp_path/project with app.py, and tmp_path/site/dep.py that logs its imports."""

    def __init__(self, tmp_path):
        self.root = tmp_path / "project"
        self.site = tmp_path / "site"
        self.log = tmp_path / "imports.log"
        self.root.mkdir()
        self.site.mkdir()
        self.write_dependency("d1")
        self.write_app("v1")

    def write_dependency(self, value):
        (self.site / "dep.py").write_text(DEPENDENCY % {"log": str(self.log), "value": value})

    def write_app(self, body):
        (self.root / "app.py").write_text(APP % body)

    def imports(self):
        return self.log.read_text().splitlines() if self.log.exists() else []

    def start(self, supervisor, *args):
        return supervisor(["--app", "app:app", "--port", "0"] + list(args), workdir=self.root,
                          env={"PYTHONPATH": os.pathsep.join([str(self.site),
                                                              os.environ.get("PYTHONPATH", "")])})


@pytest.fixture
def project(tmp_path):
    return Project(tmp_path)


def forked_by_template(pid):
    """True when the child runs in a process forked from the template (its command line is the
    template's), False for a fresh interpreter."""
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        cmdline = f.read()
    assert b"devbox.supervisor" in cmdline
    return b"devbox.supervisor.template" in cmdline


def serve_versions(sup, project, count):
    """Edit the app `count` times, reloading after each; every version is served."""
    for i in range(2, count + 2):
        project.write_app("v%d" % i)
        sup.reload()
        assert http_get(sup.port)[1].startswith("v%d " % i)


def test_preloaded_dependency_is_imported_once(project, supervisor):
    sup = project.start(supervisor, "--preload", "dep")
    first = sup.wait_event(protocol.EVENT_READY, generation=1)
    assert forked_by_template(first["pid"])
    assert http_get(sup.port) == (200, "v1 d1")
    serve_versions(sup, project, 4)
    assert len(project.imports()) == 1  # in the template, before any child
    status = sup.status()
    assert status["warm"] is True and status["warm_off"] is None
    assert forked_by_template(status["child_pid"])


def test_learned_dependency_moves_into_the_template(project, supervisor):
    """No preload list: the first child imports dep and reports it; the template imports it
    next, and no child after that imports it again."""
    sup = project.start(supervisor)
    sup.wait_event(protocol.EVENT_READY, generation=1)
    serve_versions(sup, project, 4)
    importers = [int(line.split()[-1]) for line in project.imports()]
    assert len(importers) == 2
    assert importers[0] == sup.wait_event(protocol.EVENT_READY, generation=1)["pid"]
    assert importers[1] == sup.status()["template_pid"]


def test_changed_dependency_rebuilds_the_template(project, supervisor):
    sup = project.start(supervisor, "--preload", "dep")
    sup.wait_event(protocol.EVENT_READY, generation=1)
    serve_versions(sup, project, 2)
    template = sup.status()["template_pid"]

    project.write_dependency("d2-changed")  # as a pip upgrade would, outside the project
    sup.send(signal.SIGHUP)
    wait_until(lambda: http_get(sup.port) == (200, "v3 d2-changed"), timeout=TIMEOUT,
               message="the new dependency served (%s)" % sup.output())
    assert len(project.imports()) == 2
    assert sup.status()["template_pid"] != template
    assert not pid_alive(template)
    assert sum("changed since the warm template imported it" in line
               for line in sup.lines()) == 1
    serve_versions(sup, project, 2)  # and the new template is used from then on
    assert len(project.imports()) == 2


def test_project_modules_are_fresh_in_every_child(project, supervisor):
    """Project code never sits in the template: an edited helper and a brand new module are
    served by the next child."""
    (project.root / "helpers.py").write_text("NAME = 'h1'\n")
    app = ("import dep, helpers\n"
           "def app(environ, start_response):\n"
           "    start_response('200 OK', [])\n"
           "    return [(helpers.NAME + ' ' + dep.VALUE + ' ' + %s).encode()]\n")
    (project.root / "app.py").write_text(app % "''")
    sup = project.start(supervisor, "--preload", "dep")
    sup.wait_event(protocol.EVENT_READY, generation=1)
    assert http_get(sup.port) == (200, "h1 d1 ")

    (project.root / "helpers.py").write_text("NAME = 'h2'\n")  # same size, same second
    sup.reload()
    assert http_get(sup.port) == (200, "h2 d1 ")

    (project.root / "fresh.py").write_text("X = 'new module'\n")
    (project.root / "app.py").write_text("import fresh\n" + app % "fresh.X")
    sup.reload()
    assert http_get(sup.port) == (200, "h2 d1 new module")
    assert forked_by_template(sup.status()["child_pid"])


def test_module_that_starts_a_thread_stays_out_of_the_template(project, supervisor):
    (project.site / "threaded.py").write_text(THREADED)
    sup = project.start(supervisor, "--preload", "threaded,dep")
    sup.wait_event(protocol.EVENT_READY, generation=1)
    serve_versions(sup, project, 3)
    said = [line for line in sup.lines() if "threaded is imported by each child" in line]
    assert len(said) == 1 and "starts a thread" in said[0], sup.output()
    assert len(project.imports()) in (1, 2)  # the first template may have imported dep too
    assert forked_by_template(sup.status()["child_pid"])


def test_template_that_cannot_fork_falls_back_to_cold_starts(project, supervisor):
    """The preloaded module `nofork` makes os.fork fail in the template (see NO_FORK)."""
    (project.site / "nofork.py").write_text(NO_FORK)
    sup = project.start(supervisor, "--preload", "nofork,dep")
    first = sup.wait_event(protocol.EVENT_READY, generation=1)
    assert not forked_by_template(first["pid"])
    serve_versions(sup, project, 3)
    said = [line for line in sup.lines() if "warm reload off" in line]
    assert len(said) == 1
    assert "cannot fork" in said[0] and "Resource temporarily unavailable" in said[0]
    assert not forked_by_template(sup.status()["child_pid"])
    assert sup.status()["warm"] is False
    assert not sup.events(protocol.EVENT_CRASHED)


def test_no_warm_starts_every_child_cold(project, supervisor):
    sup = project.start(supervisor, "--no-warm", "--no-overlap")
    sup.wait_event(protocol.EVENT_READY, generation=1)
    serve_versions(sup, project, 3)
    assert len(project.imports()) == 4  # every child imports it
    assert not forked_by_template(sup.status()["child_pid"])
    assert sup.status()["warm"] is False and sup.status()["overlap"] is False


def test_stop_leaves_neither_template_nor_standby_child(project, supervisor):
    sup = project.start(supervisor, "--preload", "dep")
    sup.wait_event(protocol.EVENT_READY, generation=1)
    serve_versions(sup, project, 1)
    status = wait_until(lambda: (lambda s: s if s["standby_pid"] else None)(sup.status()),
                        timeout=TIMEOUT, message="a standby child")
    helpers = [status["template_pid"], status["standby_pid"], status["child_pid"]]
    code, took = sup.stop()
    assert code == 0 and took < 1.0
    wait_until(lambda: not any(pid_alive(pid) for pid in helpers), timeout=5,
               message="template, standby and app child gone")


def test_sigkill_of_the_supervisor_takes_the_template_down(project, supervisor):
    sup = project.start(supervisor, "--preload", "dep")
    sup.wait_event(protocol.EVENT_READY, generation=1)
    status = wait_until(lambda: (lambda s: s if s["standby_pid"] else None)(sup.status()),
                        timeout=TIMEOUT, message="a standby child")
    sup.send(signal.SIGKILL)
    helpers = [status["template_pid"], status["standby_pid"], status["child_pid"]]
    wait_until(lambda: not any(pid_alive(pid) for pid in helpers), timeout=5,
               message="template, standby and app child gone")


# `lazy` is imported by the view, at the first request (as Starlette and Django import parts of
# themselves): the warm-up request imports it, and the template learns it from there.
LAZY_APP = """
import sys
BODY = %r
PRELOADED = "lazy" in sys.modules
def app(environ, start_response):
    import lazy
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [("%%s preloaded=%%s" %% (BODY, PRELOADED)).encode()]
"""


def test_what_the_first_request_imports_is_imported_by_the_template(project, supervisor):
    (project.site / "lazy.py").write_text(DEPENDENCY % {"log": str(project.log), "value": "l"})
    (project.root / "app.py").write_text(LAZY_APP % "v1")
    sup = project.start(supervisor)
    sup.wait_event(protocol.EVENT_READY, generation=1)
    assert http_get(sup.port) == (200, "v1 preloaded=False")
    wait_until(lambda: sup.status().get("standby_pid"), message="a standby child after the import")
    (project.root / "app.py").write_text(LAZY_APP % "v2 edited")
    sup.reload()
    assert http_get(sup.port) == (200, "v2 edited preloaded=True")
