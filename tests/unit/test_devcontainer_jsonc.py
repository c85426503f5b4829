"""devcontainer.json's JSONC reader and its variables: comments, trailing commas, escapes, a
one-line error with file and line for each malformed file, and the spec's `${...}` variables."""

from pathlib import Path

import pytest

from devbox.config.tree import Context
from devbox.devcontainer import jsonc
from devbox.devcontainer.variables import Variables, resolve_container_env
from devbox.errors import ConfigError


def read(text):
    return jsonc.read(text, Context("devcontainer.json", {}, Path("/project")))


def plain(node):
    """The plain JSON value of a located node."""
    if isinstance(node.value, dict):
        return {key: plain(child) for key, child in node.value.items()}
    if isinstance(node.value, list):
        return [plain(child) for child in node.value]
    return node.value


def error(text):
    with pytest.raises(ConfigError) as info:
        read(text)
    assert "\n" not in str(info.value)
    assert info.value.file == "devcontainer.json"
    return info.value


def test_comments_and_trailing_commas_are_read_as_vscode_writes_them():
    text = """// For format details, see the spec
    {
        "name": "app", // the name
        /* a block
           comment */ "forwardPorts": [8000, 5000,],
        "url": "http://example.test//not-a-comment/*",
    }
    """
    assert plain(read(text)) == {"name": "app", "forwardPorts": [8000, 5000], "url": "http://example.test//not-a-comment/*"}


def test_values_remember_their_lines_and_key_paths():
    top = read('{\n  "a": {\n    "b": [1,\n      "x"]\n  }\n}\n')
    item = top.value["a"].value["b"].value[1]
    assert (item.line, item.path) == (4, "a.b[1]")
    assert top.value["a"].key_lines == {"b": 3}


def test_json_types_escapes_and_unicode():
    text = r'{"t": true, "f": false, "n": null, "i": -12, "x": 1.5e3, "s": "a\"b\\c\/\n\t\u00e9\ud83d\ude00"}'
    assert plain(read(text)) == {"t": True, "f": False, "n": None, "i": -12, "x": 1500.0, "s": 'a"b\\c/\n\té\U0001F600'}


def test_a_number_keeps_its_text_for_values_written_as_strings():
    assert read('{"v": 1.10}').value["v"].raw == "1.10"


def test_a_bom_and_an_empty_file_are_fine():
    assert plain(read('\ufeff{"a": 1}')) == {"a": 1}
    assert read("  // nothing here\n") is None


@pytest.mark.parametrize(
    "text, line, problem",
    [
        ('{\n  "a": 1\n  "b": 2\n}', 3, "invalid JSON: expected ',' or '}', got '\"' (column 3)"),
        ('{\n  "a": [1 2]\n}', 2, "invalid JSON: expected ',' or ']', got '2' (column 11)"),
        ('{\n  a: 1\n}', 2, "invalid JSON: expected a key in double quotes or '}', got 'a' (column 3)"),
        ("{\n  \"a\": 'x'\n}", 2, "invalid JSON: strings take double quotes (column 8)"),
        ('{\n  "a": "x\n}', 2, "invalid JSON: a string is never closed (column 8)"),
        ('{\n  "a": "C:\\Users"\n}', 2, "invalid JSON: invalid escape \\U (column 11)"),
        ('{\n  "a": "\\u12"\n}', 2, "invalid JSON: \\u must be followed by 4 hex digits (column 9)"),
        ('{"a": 1 /* open\n\n', 1, "invalid JSON: a /* comment is never closed (column 9)"),
        ('{"a": 1', 1, "invalid JSON: expected ',' or '}', got the end of the file (column 8)"),
        ('{"a": 1}\n{"b": 2}', 2, "invalid JSON: unexpected '{' after the top-level value (column 1)"),
        ('{"a": True}', 1, "invalid JSON: expected a value, got 'True' (column 7)"),
        ('{"a" 1}', 1, "invalid JSON: expected ':' after the key \"a\", got '1' (column 6)"),
        ('{\n"a": 1,\n"a": 2}', 3, "duplicate key 'a'"),
    ],
)
def test_a_malformed_file_is_one_line_with_its_line(text, line, problem):
    err = error(text)
    assert (err.line, err.problem) == (line, problem)
    assert err.hint


# -- variables ---------------------------------------------------------------------------------

LOCAL = Path("/home/me/proj")


def resolve(text, environ=None, container_folder="/workspaces/proj"):
    return Variables(environ or {}, LOCAL, container_folder)(text)


def test_local_env_with_and_without_a_default():
    environ = {"HOME": "/home/me", "EMPTY": ""}
    assert resolve("${localEnv:HOME}/.ssh", environ) == "/home/me/.ssh"
    assert resolve("${localEnv:HOME}${localEnv:USERPROFILE}", environ) == "/home/me"  # unset is blank
    assert resolve("${localEnv:NOPE:fallback}", environ) == "fallback"
    assert resolve("${localEnv:NOPE:a:b}", environ) == "a:b"
    assert resolve("${localEnv:EMPTY:fallback}", environ) == ""  # set, though empty
    assert resolve("${env:HOME}", environ) == "/home/me"


def test_workspace_folders():
    assert resolve("${localWorkspaceFolder}/data") == "/home/me/proj/data"
    assert resolve("${localWorkspaceFolderBasename}") == "proj"
    assert resolve("${containerWorkspaceFolder}/src") == "/workspaces/proj/src"
    assert resolve("${containerWorkspaceFolderBasename}") == "proj"


def test_container_workspace_folder_waits_until_workspace_folder_is_known():
    assert resolve("${containerWorkspaceFolder}", container_folder=None) == "${containerWorkspaceFolder}"


def test_container_env_and_unknown_variables_are_kept_as_written():
    assert resolve("${containerEnv:PATH}:/x") == "${containerEnv:PATH}:/x"
    assert resolve("${devcontainerId} ${nope} $HOME") == "${devcontainerId} ${nope} $HOME"


def test_container_env_is_resolved_from_the_containers_environment():
    env = {"PATH": "/usr/bin"}
    assert resolve_container_env("${containerEnv:PATH}:/x", env) == "/usr/bin:/x"
    assert resolve_container_env("${containerEnv:NOPE:d}|${containerEnv:NOPE}", env) == "d|"
    assert resolve_container_env("${containerEnv:NOPE}", env, keep_missing=True) == "${containerEnv:NOPE}"
    assert resolve_container_env("${localEnv:X}", env) == "${localEnv:X}"


def test_every_string_in_a_tree_is_resolved_but_no_key():
    top = read('{"${localEnv:K}": ["${localWorkspaceFolderBasename}", 1, {"x": "${localEnv:K}"}]}')
    Variables({"K": "v"}, LOCAL).resolve_tree(top)
    assert plain(top) == {"${localEnv:K}": ["proj", 1, {"x": "v"}]}
