"""The project name rule has one home (devbox.config.names): `devbox init` writes a name that
`devbox up` accepts, whatever the directory is called."""

import pytest

from devbox import config, scaffold
from devbox.config import names

AWKWARD = ["My.-App", "a___b", "foo..bar", "x_-_y", "-lead", "trail.", "UPPER", "sp ace", "Ünï", "a__b",
           "a.b_c-d", "1-2", "日本", "___", "...", "web--api"]


@pytest.mark.parametrize("directory", AWKWARD)
def test_init_writes_a_name_that_up_accepts(tmp_path, directory):
    root = tmp_path / directory
    root.mkdir()
    (root / "app.py").write_text("app = object()  # what init looks for: a module-level app\n")
    list(scaffold.init(root))
    cfg = config.load(root / "devbox.yml", cwd=root, environ={})
    assert cfg.name == (names.sanitize_name(directory) or "app")


@pytest.mark.parametrize("directory, name", [("My.-App", "my-app"), ("a___b", "a-b"), ("foo..bar", "foo-bar"),
                                             ("shop.web", "shop.web"), ("a__b", "a__b"), ("日本", "")])
def test_sanitized_names(directory, name):
    assert names.sanitize_name(directory) == name


@pytest.mark.parametrize("raw", AWKWARD + ["".join(chr(c) for c in range(32, 127)), "-._" * 5 + "z", "a" + "._-" * 3 + "b"])
def test_a_sanitized_name_is_empty_or_valid(raw):
    name = names.sanitize_name(raw)
    assert name == "" or names.is_valid(name)
