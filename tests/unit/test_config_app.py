"""`app:` takes factories (devbox.supervisor.appspec), and every ConfigError carries its file,
line and key as fields, with the `file:line: ` prefix built from them."""

from pathlib import Path

import pytest

from devbox import config
from devbox.errors import ConfigError, location


def load(tmp_path, text):
    (tmp_path / "devbox.yml").write_text(text)
    return config.load(Path("devbox.yml"), cwd=tmp_path, environ={})


def error(tmp_path, text):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    assert "\n" not in str(info.value)
    return info.value


@pytest.mark.parametrize("app", ["app:create_app()", "app:create_app(debug=True)",
                                 "pkg.mod:make('dev', workers=2, extra={'a': [1]})"])
def test_app_may_be_a_factory_with_literal_arguments(tmp_path, app):
    cfg = load(tmp_path, f'image: x\napp: "{app}"\n')
    assert (cfg.app, cfg.listen) == (app, "fd")


def test_a_factory_argument_that_is_not_a_literal_is_a_one_line_error(tmp_path):
    err = error(tmp_path, 'image: x\napp: "app:create_app(config=os.environ)"\n')
    assert err.message.startswith(
        "devbox.yml:2: app 'app:create_app(config=os.environ)' argument config (os.environ) is not a literal")
    assert (err.file, err.line, err.key) == ("devbox.yml", 2, "app")
    assert "create_app(debug=True)" in err.hint


def test_a_compose_service_app_is_checked_the_same_way(tmp_path):
    (tmp_path / "compose.yml").write_text("services: {web: {image: x}}\n")
    err = error(tmp_path, "compose:\n  services:\n    web: {app: 'web:make(*a)'}\n")
    assert err.line == 3 and err.key == "compose.services.web.app"
    assert err.problem == "compose.services.web.app 'web:make(*a)' cannot unpack arguments (*): write each argument as a literal"


@pytest.mark.parametrize("text, line, key", [
    ("app: a:b\nports: [99999]\n", 2, "ports[0]"),
    ("app: a:b\nwatch:\n  debounce_ms: -1\n", 3, "watch.debounce_ms"),
    ("app: a:b\nimage: ${X:?needed}\n", 2, "image"),
    ("app: a:b\napp: c:d\n", 2, "app"),
    ("app: [unclosed\n", 2, ""),
])
def test_errors_carry_file_line_and_key(tmp_path, text, line, key):
    err = error(tmp_path, text)
    assert (err.file, err.line, err.key) == ("devbox.yml", line, key)
    assert err.message == f"devbox.yml:{line}: {err.problem}"


def test_an_error_about_the_whole_file_has_no_line(tmp_path):
    with pytest.raises(ConfigError) as info:
        config.load(Path("missing.yml"), cwd=tmp_path)
    assert (info.value.file, info.value.line, info.value.message) == ("missing.yml", None, "missing.yml: no such file")


def test_location_is_the_one_prefix_format():
    assert (location("f.yml", 3), location("f.yml"), location()) == ("f.yml:3: ", "f.yml: ", "")
