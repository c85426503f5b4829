"""The seams in devbox.interfaces are met by every class that stands behind them, and the CLI
drives a project without asking which kind it is."""

import ast
import inspect
import textwrap
import types
from pathlib import Path

import pytest

from devbox import cli, compose, config, filters, interfaces, session, targets


def members(protocol):
    return [name for name in vars(protocol) if not name.startswith("_") or name == "__call__"]


def load(tmp_path, text):
    (tmp_path / "devbox.yml").write_text(textwrap.dedent(text))
    (tmp_path / "docker-compose.yml").write_text("services: {}\n")
    return config.load(Path("devbox.yml"), cwd=tmp_path, environ={})


def test_both_kinds_of_project_are_projects(tmp_path):
    single = session.Session(load(tmp_path, "app: app:app\n"),
                             types.SimpleNamespace(client=None, remote=False, forwards_ports=False))
    stack = compose.ComposeSession(load(tmp_path, """
        compose:
          file: docker-compose.yml
          services: {web: {app: "web:app", port: 8000}}
        """), connect=lambda: None)
    for project in (single, stack):
        assert isinstance(project, interfaces.Project)
        for name in members(interfaces.Project):
            if callable(getattr(interfaces.Project, name, None)):
                ours = inspect.signature(getattr(interfaces.Project, name))
                theirs = inspect.signature(getattr(project, name))
                wanted = list(ours.parameters)[1:]  # more parameters are fine when they have defaults
                assert list(theirs.parameters)[:len(wanted)] == wanted, (type(project).__name__, name)


@pytest.mark.parametrize("cls", [targets.ContainerTarget, targets.ProcessTarget, compose.ServiceTarget])
def test_every_target_acts_on_batches(cls):
    assert callable(cls.act)


@pytest.mark.parametrize("cls", [filters.PathFilter, compose.UnionFilter])
def test_every_watch_filter_has_the_watchers_methods(cls):
    for name in ("__call__", "classify_batch", "walk"):
        assert callable(getattr(cls, name)), name


def test_the_cli_does_not_ask_whether_a_project_is_compose():
    tree = ast.parse(inspect.getsource(cli))
    asking = [node for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr == "compose"]
    # One place chooses the kind of project: make_project.
    assert len(asking) == 1
    opener = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "make_project")
    assert asking[0] in list(ast.walk(opener))
