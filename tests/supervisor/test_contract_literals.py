"""The supervisor's contract is spelled in protocol.py only: no host module (devbox/ outside
supervisor/) writes one of its values as a literal, it names the protocol constant instead.
A host copy of "ready" or "SIGHUP" would keep working until the day the contract changes."""

import ast
from pathlib import Path

import pytest

import devbox
from devbox.supervisor import protocol

PACKAGE = Path(devbox.__file__).parent
HOST_MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "supervisor" not in p.relative_to(PACKAGE).parts)

# Messages between the supervisor's own processes (parent <-> child, parent <-> template): the
# host never reads or writes them, and their words ("stop", "go", "import") are everyday ones.
INTERNAL_PREFIXES = ("MSG_", "TPL_", "_")

# Values that are also ordinary words or someone else's names, where a host module means the
# ordinary thing.
ALLOWED = {
    "0.0.0.0": "the IPv4 wildcard address; host rules about published ports use it too",
    "true": "YAML's and env files' spelling of a boolean, in config parsing",
    "false": "YAML's and JSON's spelling of a boolean, in config parsing",
    "/": "the path separator and the root URL path (the probe's and WARM_UP_PATH), everywhere",
    "PYTHONUNBUFFERED": "Python's own variable; the host sets it in container environments",
    "ok": "an everyday word",
    "error": "an everyday word (the host's own error events)",
    "0": "a digit (WARM_UP_OFF), which host modules write for their own zeros",
}


def contract_values():
    """value -> protocol names, for every str or bytes constant (or tuple of them) that is part
    of the host <-> container contract."""
    values = {}
    for name, value in vars(protocol).items():
        if name.startswith(INTERNAL_PREFIXES) or not name.isupper():
            continue
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, (str, bytes)) and item not in ALLOWED:
                values.setdefault(item, []).append(name)
    return values


def literals(path):
    """(line, value) of every str and bytes constant in the module, docstrings left out."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)) \
                and id(node) not in docstrings:
            yield node.lineno, node.value


def test_the_contract_has_values_to_look_for():
    values = contract_values()
    for expected in ("ready", "crashed", "SIGHUP", "fd", "--status-file", protocol.INSTALL_ROOT,
                     protocol.RECEIVER_TAR, protocol.LOG_PREFIX):
        assert expected in values
    assert all(word not in values for word in ALLOWED)


@pytest.mark.parametrize("path", HOST_MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_host_module_spells_no_contract_literal(path):
    values = contract_values()
    found = ["line %d: %r is protocol.%s" % (line, value, " / ".join(values[value]))
             for line, value in literals(path) if value in values]
    assert not found, "use the protocol.py names instead:\n" + "\n".join(found)


def test_the_check_finds_a_literal(tmp_path):
    module = tmp_path / "host.py"
    module.write_text('"""Docs may say ready."""\n'
                      'def reload(container):\n'
                      '    container.kill(signal="SIGHUP")\n')
    values = contract_values()
    assert [(line, v) for line, v in literals(module) if v in values] == [(3, "SIGHUP")]
