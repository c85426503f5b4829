"""`devbox init` on small project trees: what it finds to serve, what it writes and says."""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from devbox import config, scaffold
from devbox.errors import DevboxError

APPS = Path(__file__).resolve().parents[1] / "apps"


def tree(root: Path, files: dict) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


DJANGO_MANAGE = 'import os\nos.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")\n'
DJANGO_WSGI = ("import os\nfrom django.core.wsgi import get_wsgi_application\n"
               'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")\n'
               "application = get_wsgi_application()\n")
DJANGO_ASGI = DJANGO_WSGI.replace("wsgi", "asgi")


@pytest.mark.parametrize("files, app, line", [
    ({"manage.py": DJANGO_MANAGE, "mysite/__init__.py": "", "mysite/wsgi.py": DJANGO_WSGI,
      "mysite/asgi.py": DJANGO_ASGI, "requirements.txt": "Django>=5,<6\n"},
     "mysite.wsgi:application",
     "found Django (manage.py, mysite/wsgi.py, django in requirements.txt): app: mysite.wsgi:application"),
    ({"manage.py": DJANGO_MANAGE, "mysite/__init__.py": "", "mysite/asgi.py": DJANGO_ASGI},
     "mysite.asgi:application", "found Django (manage.py, mysite/asgi.py): app: mysite.asgi:application"),
    ({"app.py": "from flask import Flask\napp = Flask(__name__)\n"},
     "app:app", "found Flask (app.py): app: app:app"),
    ({"server.py": "import flask\n\nserver = flask.Flask(__name__)\n", "pyproject.toml":
      '[project]\nname = "x"\ndependencies = ["Flask>=3"]\n'},
     "server:server", "found Flask (server.py, flask in pyproject.toml): app: server:server"),
    ({"flaskr/__init__.py": "from flask import Flask\n\n"
                            "def create_app(test_config=None):\n    return Flask(__name__)\n"},
     "flaskr:create_app()", "found Flask (flaskr/__init__.py): app: flaskr:create_app()"),
    ({"flaskr/__init__.py": "from flask import Flask\n\ndef create_app():\n    return Flask(__name__)\n",
      "wsgi.py": "from flaskr import create_app\n\napp = create_app()\n", "requirements.txt": "flask\n"},
     "wsgi:app", "found Flask (wsgi.py, flask in requirements.txt): app: wsgi:app"),
    ({"app/__init__.py": "", "app/main.py": "from fastapi import FastAPI\n\napp = FastAPI(title='x')\n",
      "requirements.txt": "fastapi[standard]==0.115\nuvicorn\n"},
     "app.main:app", "found FastAPI (app/main.py, fastapi in requirements.txt): app: app.main:app"),
    ({"main.py": "from starlette.applications import Starlette\napp = Starlette(routes=[])\n"},
     "main:app", "found Starlette (main.py): app: main:app"),
    ({"app.py": "import bottle\n\napp = bottle.default_app()\n", "requirements-dev.txt": "bottle\n"},
     "app:app", "found Bottle (app.py, bottle in requirements-dev.txt): app: app:app"),
    ({"main.py": "def application(environ, start_response):\n    pass\napplication = application\n"},
     "main:application", "found a WSGI app (main.py): app: main:application"),
])
def test_the_app_of_each_layout_is_found_and_said_in_one_line(tmp_path, files, app, line):
    found = scaffold.find_app(tree(tmp_path, files))
    assert (found.app, found.line()) == (app, line)


def test_environments_tests_and_docs_are_not_searched(tmp_path):
    tree(tmp_path, {"tests/app.py": "from flask import Flask\napp = Flask(__name__)\n",
                    ".venv/app.py": "from flask import Flask\napp = Flask(__name__)\n",
                    "docs/conf.py": "app = object()\n"})
    assert scaffold.find_app(tmp_path).app == ""


def test_a_dependency_without_an_app_says_what_to_fill_in(tmp_path):
    tree(tmp_path, {"pyproject.toml": '[tool.poetry.dependencies]\npython = "^3.11"\nDjango = "^5.0"\n'})
    line = scaffold.find_app(tmp_path).line()
    assert line.startswith("found Django (django in pyproject.toml) but no app to serve: fill in `app:`")


def test_nothing_recognisable_says_what_to_fill_in_and_writes_no_app(tmp_path):
    tree(tmp_path, {"README.md": "hello\n"})
    lines = list(scaffold.init(tmp_path))
    assert lines[0].startswith("found no app to serve: fill in `app:` in devbox.yml (module:callable")
    assert "no app yet" in lines[1]
    data = yaml.safe_load((tmp_path / "devbox.yml").read_text())
    assert "app" not in data and "command" not in data
    with pytest.raises(DevboxError, match="nothing to run"):
        config.load(tmp_path / "devbox.yml")


@pytest.mark.parametrize("example, app", [
    ("django_site", "mysite.wsgi:application"), ("flask_app", "app:app"), ("fastapi_app", "main:app"),
    ("starlette_app", "app:app"), ("bottle_app", "app:app"), ("flask_factory", "flaskr:create_app()"),
])
def test_init_on_the_example_projects_writes_their_app_and_port(tmp_path, example, app):
    root = tmp_path / example
    shutil.copytree(APPS / example, root)
    lines = list(scaffold.init(root, image="python:3.12-slim"))
    assert lines[0].startswith("found ") and lines[0].endswith(f"app: {app}")
    assert lines[1] == f"created devbox.yml (app: {app}, port 8000, image python:3.12-slim)"
    data = yaml.safe_load((root / "devbox.yml").read_text())
    assert (data["app"], data["ports"]) == (app, ["8000"])
    assert (root / "docker" / "Dockerfile").read_text() == scaffold.TEMPLATE.read_text()


def test_the_written_devbox_yml_loads(tmp_path):
    shutil.copytree(APPS / "django_site", tmp_path / "site")
    list(scaffold.init(tmp_path / "site"))
    cfg = config.load(tmp_path / "site" / "devbox.yml")
    assert cfg.app == "mysite.wsgi:application"


# -- the Dockerfile's dependency step -------------------------------------------------------------

def dependency_step() -> str:
    """The template's RUN instruction that installs the dependencies, as the shell gets it."""
    lines = scaffold.TEMPLATE.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("RUN "))
    script = []
    for line in lines[start:]:
        script.append(line[4:] if line.startswith("RUN ") else line)
        if not line.endswith("\\"):
            break
    return "\n".join(script)


@pytest.fixture
def build_dir(tmp_path):
    """Runs the dependency step in a directory laid out as the build's WORKDIR after its COPY.

    No package index can be reached from here, so `python3` is a stand-in that records each
    `python3 -m ...` (pip, uv); `python3 -c` runs the real Python, so reading pyproject.toml is
    real."""
    bindir, work, log = tmp_path / "bin", tmp_path / "work", tmp_path / "calls.log"
    bindir.mkdir()
    work.mkdir()
    stand_in = bindir / "python3"
    stand_in.write_text(textwrap.dedent(f"""\
        #!/bin/bash
        if [ "$1" = -c ]; then exec {sys.executable} "$@"; fi
        echo "python3 $*" >> {log}
        exit 0
        """))
    stand_in.chmod(0o755)

    def run(files):
        tree(work, files)
        env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "TMPDIR": str(tmp_path)}
        script = dependency_step().replace("/tmp/requirements.txt", str(run.listed))
        result = subprocess.run(["sh", "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        return log.read_text().splitlines() if log.exists() else []

    run.listed = tmp_path / "requirements.txt"  # where the step writes what it derived
    return run


def test_a_uv_lock_installs_with_uv(build_dir):
    calls = build_dir({"pyproject.toml": "[project]\nname='x'\n", "uv.lock": "", "requirements.txt": "x\n"})
    assert calls == ["python3 -m pip install --no-cache-dir uv",
                     f"python3 -m uv export --frozen --no-emit-project --no-hashes -o {build_dir.listed}",
                     f"python3 -m uv pip install --system --no-cache -r {build_dir.listed}"]


def test_every_requirements_file_is_installed_with_pip(build_dir):
    calls = build_dir({"requirements.txt": "flask\n", "requirements-dev.txt": "pytest\n"})
    assert calls == ["python3 -m pip install --no-cache-dir -r requirements-dev.txt -r requirements.txt"]


def test_pyproject_dependencies_are_installed_without_the_project(build_dir):
    calls = build_dir({"pyproject.toml": '[project]\nname = "x"\ndependencies = ["flask>=3", "httpx"]\n'})
    assert calls == [f"python3 -m pip install --no-cache-dir -r {build_dir.listed}"]
    assert build_dir.listed.read_text().split() == ["flask>=3", "httpx"]


def test_lists_of_comments_install_nothing_so_an_image_without_pip_builds(build_dir):
    assert build_dir({"requirements.txt": "# none yet\n\n"}) == []
    assert build_dir({"pyproject.toml": '[project]\nname = "x"\n'}) == []


def test_no_dependency_file_installs_nothing(build_dir):
    assert build_dir({"devbox.yml": "app: app:app\n"}) == []
