"""Real servers as their users run them, as the supervisor's command: `flask run` (werkzeug),
gunicorn and Django's runserver serve on the supervisor's socket and reload on SIGHUP."""

import os
import sys

import pytest

from devbox.supervisor import protocol
from tests.supervisor.conftest import free_port, http_get
from tests.waiting import wait_until

FLASK_APP = """
import os
from flask import Flask
app = Flask(__name__)
BODY = %r
@app.route("/")
def index():
    return "%%s group=%%d listen_fds=%%s" %% (BODY, os.getpgid(0), os.environ.get("LISTEN_FDS"))
"""


def answers(sup, text):
    """Wait until GET / on the supervisor's port answers 200 with `text` in it; the body."""
    def seen():
        try:
            status, body = http_get(sup.port, timeout=2.0)
        except OSError:
            return None
        return body if status == 200 and text in body else None

    return wait_until(seen, message="%r served (output: %s)" % (text, sup.output()))


def serves_and_reloads(sup, source, old, new):
    """The first generation serves `old`; after the edit and a SIGHUP the new process serves
    `new` (from the process group the ready event names); returns the second ready event's
    fields. `new` differs in length from `old`: an edit in the same second as the first import,
    of the same size, would leave Python's .pyc of the module looking current."""
    assert len(new) != len(old)
    first = sup.wait_event(protocol.EVENT_READY, generation=1)
    assert "group=%d" % first["pid"] in answers(sup, old)
    source.write_text(source.read_text().replace(old, new))
    second = sup.reload()
    assert "group=%d" % second["pid"] in answers(sup, new)
    assert not sup.events(protocol.EVENT_CRASHED), sup.output()
    return second


@pytest.mark.parametrize("debug", ["--debug", "--no-debug"])
def test_flask_run_serves_on_the_supervisors_socket(tmp_path, supervisor, debug):
    source = tmp_path / "app.py"
    source.write_text(FLASK_APP % "flask v1")
    sup = supervisor(["--port", "0", "--", sys.executable, "-m", "flask", "--app", "app", "run",
                      debug, "--port", "1"])  # a port it must not bind: it serves on fd 3
    serves_and_reloads(sup, source, "flask v1", "flask v2 edited")
    assert "Restarting with" not in sup.output()  # flask's own reloader stayed off
    if debug == "--debug":
        assert "Debugger is active" in sup.output()


def test_gunicorn_bound_to_fd_3_serves(tmp_path, supervisor):
    source = tmp_path / "app.py"
    source.write_text(FLASK_APP % "gunicorn v1")
    sup = supervisor(["--port", "0", "--", sys.executable, "-m", "gunicorn",
                      "--bind", "fd://3", "app:app"])
    serves_and_reloads(sup, source, "gunicorn v1", "gunicorn v2 edited")
    assert "listen_fds=None" in answers(sup, "gunicorn v2")


def test_a_bare_gunicorn_serves_on_fd_3_by_socket_activation(tmp_path, supervisor):
    source = tmp_path / "app.py"
    source.write_text(FLASK_APP % "gunicorn v1")
    sup = supervisor(["--port", "0", "--", sys.executable, "-m", "gunicorn", "app:app"])
    sup.wait_event(protocol.EVENT_READY, generation=1)
    answers(sup, "gunicorn v1")


DJANGO_MANAGE = """
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_settings")
from django.core.management import execute_from_command_line
execute_from_command_line(sys.argv)
"""
DJANGO_SETTINGS = """
DEBUG = True
SECRET_KEY = "test"
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "site_urls"
INSTALLED_APPS = []
DATABASES = {}
"""
DJANGO_URLS = """
import os
from django.http import HttpResponse
from django.urls import path
BODY = %r
def index(request):
    return HttpResponse("%%s group=%%d" %% (BODY, os.getpgid(0)))
urlpatterns = [path("", index)]
"""
HTTP_SERVER = """
import http.server, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"http.server on %d" % self.server.server_address[1])
other = http.server.HTTPServer(("127.0.0.1", 0), Handler)  # not the app's port: binds as usual
assert other.server_address[1] != int(sys.argv[1])
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def group_members(pgid):
    """Pids of the live processes in process group `pgid`."""
    members = []
    for entry in os.listdir("/proc"):
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry))
    return members


def test_runserver_serves_on_the_supervisors_socket_in_one_interpreter(tmp_path, supervisor):
    """runserver binds the port itself: the shim makes it adopt fd 3, and RUN_MAIN=true makes
    it serve at once instead of starting a second interpreter as its reloader's child."""
    (tmp_path / "manage.py").write_text(DJANGO_MANAGE)
    (tmp_path / "site_settings.py").write_text(DJANGO_SETTINGS)
    source = tmp_path / "site_urls.py"
    source.write_text(DJANGO_URLS % "django v1")
    port = free_port()
    sup = supervisor(["--port", str(port), "--", sys.executable, "manage.py", "runserver",
                      "127.0.0.1:%d" % port])
    second = serves_and_reloads(sup, source, "django v1", "django v2 edited")
    assert group_members(second["pid"]) == [second["pid"]]
    assert "Address already in use" not in sup.output()


def test_the_shim_adopts_fd_3_for_the_apps_port_only(tmp_path, supervisor):
    script = tmp_path / "server.py"
    script.write_text(HTTP_SERVER)
    port = free_port()
    sup = supervisor(["--port", str(port), "--", sys.executable, str(script), str(port)])
    sup.wait_event(protocol.EVENT_READY, generation=1)
    assert http_get(port) == (200, "http.server on %d" % port)
