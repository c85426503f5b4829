"""Every event the core reports has a renderer in cli.Console, and every renderer an emitter:
the names live in devbox.events, and a report spelled with a bare string is not allowed."""

import ast
from pathlib import Path

from devbox import cli, events

PACKAGE = Path(events.__file__).parent
HOST_MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "supervisor" not in p.relative_to(PACKAGE).parts)


def reported_names():
    """(module, first argument) of every report(...)/console(...) call in the host package."""
    calls = []
    for path in HOST_MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and node.args:
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in ("report", "console"):
                    calls.append((path.name, node.args[0]))
    return calls


def emitted():
    names = set()
    for path in HOST_MODULES:
        if path.relative_to(PACKAGE).as_posix() == "events.py" or path.relative_to(PACKAGE).parts[0] == "cli":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "events":
                names.add(getattr(events, node.attr))
    return names


def rendered():
    return {name[len("on_"):] for name in vars(cli.Console) if name.startswith("on_")}


def test_every_emitted_event_has_a_renderer():
    assert emitted() - rendered() == set()


def test_every_renderer_has_an_emitter():
    # WATCHING is emitted by the CLI itself, around the watcher it runs.
    assert rendered() - emitted() - {events.WATCHING} == set()
    assert set(events.ALL) == rendered()


def test_events_are_named_by_their_constant_not_spelled():
    spelled = [(module, arg.value) for module, arg in reported_names() if isinstance(arg, ast.Constant)]
    assert spelled == []
