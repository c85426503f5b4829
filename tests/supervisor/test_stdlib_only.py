"""The supervisor package runs alone: standard library only, Python 3.8 syntax and APIs."""

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import devbox.supervisor
from devbox.supervisor import protocol
from tests.supervisor.conftest import http_get

PACKAGE = Path(devbox.supervisor.__file__).parent
SOURCES = sorted(PACKAGE.glob("*.py"))

# Names that exist only on Python >= 3.9 (the supervisor must run on 3.8).
NEWER_THAN_38 = re.compile(
    r"\.removeprefix\(|\.removesuffix\(|waitstatus_to_exitcode|pidfd_open|process_group=|"
    r"functools\.cache\b|\bzoneinfo\b|\bgraphlib\b|\b(list|dict|tuple|set|type)\[[A-Za-z]")

CHECK_IMPORTS = """
import sys, sysconfig
sys.path.insert(0, sys.argv[1])
import devbox.supervisor
for name in sys.argv[2:]:
    __import__('devbox.supervisor.' + name)
stdlib = {sysconfig.get_paths()[k] for k in ('stdlib', 'platstdlib')}
bad = []
for name, module in sorted(sys.modules.items()):
    path = getattr(module, '__file__', None)
    if path and not path.startswith(sys.argv[1]) and not any(path.startswith(p) for p in stdlib):
        bad.append('%s (%s)' % (name, path))
print('\\n'.join(bad) or 'stdlib only')
"""


@pytest.fixture
def copied_package(tmp_path):
    """devbox/supervisor copied alone, as devbox copies it into a container."""
    root = tmp_path / "opt"
    shutil.copytree(str(PACKAGE), str(root / "devbox" / "supervisor"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_imports_only_the_standard_library(copied_package):
    modules = [p.stem for p in SOURCES if p.stem != "__init__"]
    result = subprocess.run(
        [sys.executable, "-S", "-I", "-c", CHECK_IMPORTS, str(copied_package)] + modules,
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "stdlib only"


def test_the_copy_alone_serves_a_project_with_its_own_devbox_package(tmp_path, copied_package,
                                                                     supervisor):
    """Run as the container runs it (the copy, -I, no PYTHONPATH); the project's own `devbox`
    package is the one its app imports."""
    project = tmp_path / "project"
    (project / "devbox").mkdir(parents=True)
    (project / "devbox" / "__init__.py").write_text("NAME = 'the project devbox'\n")
    app = ("import devbox\n"
           "def app(environ, start_response):\n"
           "    start_response('200 OK', [])\n"
           "    return [(%r + ' ' + devbox.NAME).encode()]\n")
    (project / "app.py").write_text(app % "v1")
    run_copy = ("import runpy, sys; sys.path.insert(0, %r); "
                "runpy.run_module('devbox.supervisor', run_name='__main__', alter_sys=True)"
                % str(copied_package))
    sup = supervisor(["--app", "app:app", "--port", "0"], workdir=project,
                     python_argv=[sys.executable, "-I", "-c", run_copy])
    child = sup.wait_event(protocol.EVENT_READY, generation=1)["pid"]
    assert http_get(sup.port) == (200, "v1 the project devbox")
    with open("/proc/%d/cmdline" % child, "rb") as f:
        assert str(copied_package).encode() in f.read()
    (project / "app.py").write_text(app % "v2")
    sup.reload()
    assert http_get(sup.port) == (200, "v2 the project devbox")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_python_38_syntax_and_apis(path):
    source = path.read_text()
    ast.parse(source, filename=str(path), feature_version=(3, 8))
    assert not NEWER_THAN_38.findall(source), "uses a Python >= 3.9 name"
    assert "from devbox." not in source.replace("from devbox.supervisor", "")


@pytest.mark.parametrize("module", [protocol.RECEIVER_MODULE, protocol.REMOVE_MODULE])
def test_the_in_container_programs_run_from_the_copy_alone(tmp_path, copied_package, module):
    """The host's command line for them, with the copy as the root and a cwd holding a `devbox`
    package of its own, which must not shadow ours."""
    (tmp_path / "devbox").mkdir()
    (tmp_path / "devbox" / "__init__.py").write_text("raise ImportError('the project devbox')\n")
    workdir = tmp_path / "app"
    workdir.mkdir()
    argv = protocol.program_argv(module, [workdir], root=str(copied_package),
                                 python=sys.executable)
    ping = protocol.receiver_request(protocol.RECEIVER_PING, b"")
    result = subprocess.run(argv, input=ping, capture_output=True, cwd=str(tmp_path), timeout=60)
    assert result.returncode == 0, result.stderr
    if module == protocol.RECEIVER_MODULE:
        assert result.stdout == protocol.RECEIVER_OK.encode() + b"\n"
