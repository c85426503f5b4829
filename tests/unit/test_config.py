"""devbox.yml loading: defaults, interpolation, and an error with file, line and hint for every
way the file can be wrong."""

import json
import os
import textwrap
from pathlib import Path

import pytest

from devbox import config
from devbox.config import Build, PortMapping, Watch
from devbox.errors import ConfigError


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "hello"
    root.mkdir()
    return root


@pytest.fixture
def load(project):
    """Write a devbox.yml into the project and load it; cwd is the project."""

    def load(text, environ=None, name="devbox.yml"):
        path = project / name
        path.write_text(textwrap.dedent(text))
        return config.load(Path(name), cwd=project, environ=environ if environ is not None else {})

    return load


@pytest.fixture
def error(load):
    """The ConfigError a devbox.yml raises."""

    def error(text, environ=None):
        with pytest.raises(ConfigError) as info:
            load(text, environ)
        return info.value

    return error


def assert_error(err, message, hint=None):
    assert err.message == message
    if hint is not None:
        assert err.hint == hint
    assert "\n" not in str(err)


# -- defaults ------------------------------------------------------------------------------------


def test_one_line_file_gets_every_default(load, project):
    cfg = load("app: examples.hello:app\n")
    assert cfg.path == project / "devbox.yml"
    assert cfg.root == project.resolve()
    assert cfg.name == "hello"
    assert cfg.image == cfg.image_tag == "python:3.12-slim"
    assert cfg.build is None
    assert cfg.workdir == "/app"
    assert (cfg.app, cfg.command, cfg.listen) == ("examples.hello:app", None, "fd")
    assert cfg.ports == (PortMapping("127.0.0.1", 8000, 8000),)
    assert cfg.app_port == 8000
    assert cfg.env == () and cfg.env_dict() == {}
    assert cfg.watch == Watch(paths=(".",), ignore=(), rebuild=config.DEFAULT_REBUILD, no_reload=("static/**",), debounce_ms=50)
    assert "requirements*.txt" in cfg.watch.rebuild
    assert cfg.sync == "auto"
    assert (cfg.reload.warm, cfg.reload.overlap) == (True, True)
    assert cfg.preload == ()
    assert cfg.stop_grace == 5.0
    assert cfg.user is None and cfg.compose is None and cfg.warnings == ()
    assert cfg.watch_dirs() == (project.resolve(),)


def test_the_demo_file_reads_its_image_from_the_environment(load):
    text = "image: ${DEVBOX_IMAGE:-python:3.12-slim}\napp: examples.hello:app\nenv: {DEBUG: 1}\n"
    assert load(text).image == "python:3.12-slim"
    assert load(text, {"DEVBOX_IMAGE": "devbox-test:py3"}).image == "devbox-test:py3"


def test_a_null_value_means_the_default(load):
    cfg = load("app: a:b\nwatch:\nports:\nimage:\nreload:\n")
    assert cfg.watch == Watch()
    assert cfg.ports[0].container_port == 8000
    assert cfg.image == "python:3.12-slim"


def test_everything_set(load, project):
    (project / "src").mkdir()
    cfg = load(
        """\
        name: shop.web
        image: shop:dev
        workdir: /srv/app/
        command: ["uvicorn", "shop:app", "--fd", "3"]
        ports: ["0.0.0.0:8080:8000", 9000]
        env: [DEBUG=1, "EMPTY="]
        watch:
          paths: [src]
          ignore: ["*.log"]
          rebuild: [requirements.txt]
          no_reload: []
          debounce_ms: 0
        sync: copy
        reload: {warm: false, overlap: false}
        preload: [numpy, shop.models]
        stop_grace: 0.5
        user: 1000
        """
    )
    assert cfg.name == "shop.web"
    assert cfg.workdir == "/srv/app"
    assert cfg.command == ("uvicorn", "shop:app", "--fd", "3") and cfg.listen == "fd"
    assert cfg.ports == (PortMapping("0.0.0.0", 8080, 8000), PortMapping("127.0.0.1", 9000, 9000))
    assert cfg.ports[0].url == "http://127.0.0.1:8080"
    assert cfg.env == (("DEBUG", "1"), ("EMPTY", ""))
    assert cfg.watch == Watch(("src",), ("*.log",), ("requirements.txt",), (), 0)
    assert (cfg.sync, cfg.reload.warm, cfg.reload.overlap) == ("copy", False, False)
    assert cfg.preload == ("numpy", "shop.models")
    assert (cfg.stop_grace, cfg.user) == (0.5, "1000")


def test_compose_extension_keys_and_merge_keys_are_allowed(load):
    cfg = load(
        """\
        x-common: &common
          DEBUG: "1"
        app: a:app
        env:
          <<: *common
          EXTRA: x
        """
    )
    assert cfg.env_dict() == {"DEBUG": "1", "EXTRA": "x"}


# -- name ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "directory, name",
    [("My Project", "my-project"), ("shop.web", "shop.web"), ("__init__", "init"), ("a..b", "a-b"), ("Ünï", "n")],
)
def test_the_default_name_is_the_sanitized_directory_name(tmp_path, directory, name):
    root = tmp_path / directory
    root.mkdir()
    (root / "devbox.yml").write_text("app: a:b\n")
    assert config.load(root / "devbox.yml", environ={}).name == name


def test_a_directory_name_that_cannot_become_a_name_is_an_error(tmp_path):
    root = tmp_path / "___"
    root.mkdir()
    (root / "devbox.yml").write_text("app: a:b\n")
    with pytest.raises(ConfigError) as info:
        config.load(root / "devbox.yml", cwd=root, environ={})
    assert info.value.message == "devbox.yml:1: no `name` is set and none can be made from the directory name '___'"
    assert "set `name: myapp`" in info.value.hint


def test_an_invalid_name_suggests_a_valid_one(error):
    err = error("app: a:b\nname: My App\n")
    assert_error(err, "devbox.yml:2: name 'My App' is not a valid name (lowercase letters, digits, and . _ - between them)", "try 'my-app'")


# -- finding and reading the file ------------------------------------------------------------------


def test_find_config_searches_upward(project):
    (project / "devbox.yml").write_text("app: a:b\n")
    deep = project / "src" / "pkg"
    deep.mkdir(parents=True)
    assert config.find_config(deep) == project / "devbox.yml"
    cfg = config.load(cwd=deep, environ={})
    assert cfg.root == project.resolve()


def test_find_config_says_how_to_get_one(tmp_path):
    with pytest.raises(ConfigError) as info:
        config.find_config(tmp_path)
    assert_error(
        info.value,
        f"no devbox.yml or .devcontainer/devcontainer.json in {tmp_path} or any parent directory",
        "run `devbox init` to create a devbox.yml, or pass -f FILE",
    )


def test_errors_name_the_file_relative_to_cwd(project):
    (project / "devbox.yml").write_text("app: a:b\nport: 80\n")
    sub = project / "sub"
    sub.mkdir()
    with pytest.raises(ConfigError) as info:
        config.load(project / "devbox.yml", cwd=project, environ={})
    assert info.value.message.startswith("devbox.yml:2: ")
    with pytest.raises(ConfigError) as info:
        config.load(cwd=sub, environ={})  # found above cwd: shown absolute
    assert info.value.message.startswith(f"{project / 'devbox.yml'}:2: ")
    with pytest.raises(ConfigError) as info:
        config.load(Path("../devbox.yml"), cwd=sub, environ={})  # as given
    assert info.value.message.startswith("../devbox.yml:2: ")


def test_missing_file(project):
    with pytest.raises(ConfigError) as info:
        config.load(Path("other.yml"), cwd=project)
    assert_error(info.value, "other.yml: no such file", "check the path, or run `devbox init`")


def test_a_directory_is_not_a_file(project):
    (project / "conf").mkdir()
    with pytest.raises(ConfigError) as info:
        config.load(Path("conf"), cwd=project)
    assert info.value.message == "conf: is a directory, not a file"


def test_a_file_that_is_not_utf8(project):
    (project / "devbox.yml").write_bytes(b"app: \xff\xfe\n")
    with pytest.raises(ConfigError) as info:
        config.load(Path("devbox.yml"), cwd=project)
    assert info.value.message.startswith("devbox.yml: is not UTF-8 text")


def test_yaml_syntax_error_names_its_line(error):
    err = error("app: a:b\nports: [8000\nenv: {}\n")
    assert err.message.startswith("devbox.yml:3: invalid YAML: ")
    assert err.hint == "check indentation and quoting"


def test_a_tab_gets_its_own_hint(error):
    err = error("watch:\n\tpaths: [.]\n")
    assert err.message.startswith("devbox.yml:2: invalid YAML: ")
    assert err.hint == "YAML indents with spaces, not tabs"


def test_empty_file(error):
    assert_error(error("# nothing yet\n"), "devbox.yml:1: the file is empty", "add at least `app: module:callable`")


def test_top_level_must_be_a_mapping(error):
    err = error("\n- app: a:b\n")
    assert err.message == "devbox.yml:2: the top level must be a mapping of settings, got a list"


def test_multiple_documents_are_an_error(error):
    err = error("app: a:b\n---\napp: c:d\n")
    assert err.message.startswith("devbox.yml:2: invalid YAML: ")


# -- keys ----------------------------------------------------------------------------------------


def test_unknown_key_with_suggestion(error):
    err = error("name: hello\nimage: python:3.12-slim\napp: a:b\nport: 8000\n")
    assert_error(err, "devbox.yml:4: unknown key 'port'", "did you mean 'ports'?")
    assert str(err) == "devbox.yml:4: unknown key 'port' (did you mean 'ports'?)"


def test_unknown_nested_key(error):
    err = error("app: a:b\nwatch:\n  paths: [.]\n  debounce: 10\n")
    assert_error(err, "devbox.yml:4: unknown key 'watch.debounce'", "did you mean 'debounce_ms'?")


def test_unknown_key_without_a_close_match_lists_the_valid_ones(error):
    err = error("app: a:b\nreload:\n  zzz: true\n")
    assert_error(err, "devbox.yml:3: unknown key 'reload.zzz'", "valid keys: warm, overlap")


def test_duplicate_key(error):
    err = error("app: a:b\nimage: x\nimage: y\n")
    assert_error(err, "devbox.yml:3: duplicate key 'image'", "it is already set on line 2")


def test_a_section_of_the_wrong_shape(error):
    err = error("app: a:b\nwatch: [.]\n")
    assert err.message == "devbox.yml:2: watch must be a mapping, got a list"


def test_unsupported_tag(error):
    err = error("app: !!python/name:os.system a\n")
    assert err.message.startswith("devbox.yml:1: app has an unsupported YAML tag")


@pytest.mark.parametrize(
    "text, message",
    [
        ("app: a:b\nwatch:\n  debounce_ms: fast\n", "devbox.yml:3: watch.debounce_ms must be an integer >= 0, got 'fast'"),
        ("app: a:b\nwatch:\n  debounce_ms: -1\n", "devbox.yml:3: watch.debounce_ms must be an integer >= 0, got -1"),
        ("app: a:b\nstop_grace: soon\n", "devbox.yml:2: stop_grace must be a number >= 0, got 'soon'"),
        ("app: a:b\nreload: {warm: maybe}\n", "devbox.yml:2: reload.warm must be true or false, got 'maybe'"),
        ("app: a:b\nimage: [x]\n", "devbox.yml:2: image must be a string, got a list"),
        ("app: a:b\nimage: ''\n", "devbox.yml:2: image must not be empty"),
        ("app: a:b\nworkdir: app\n", "devbox.yml:2: workdir must be an absolute container path, got 'app'"),
        ("app: a:b\nworkdir: /\n", "devbox.yml:2: workdir must not be / (the project is mounted there)"),
        ("app: a:b\npreload: [numpy, 3x]\n", "devbox.yml:2: preload[1] '3x' is not a module name"),
        ("app: a:b\nwatch: {ignore: ['!']}\n", None),
    ],
)
def test_value_errors_name_line_and_key_path(error, text, message):
    err = error(text)
    if message is None:
        assert err.message.startswith("devbox.yml:2: watch.ignore[0] '!' is not a valid pattern")
    else:
        assert err.message == message


def test_a_choice_suggests_the_closest(error):
    err = error("app: a:b\nsync: cpy\n")
    assert_error(err, "devbox.yml:2: sync must be one of auto, bind, copy, got 'cpy'", "did you mean 'copy'?")


def test_numbers_from_the_environment_are_numbers(load):
    cfg = load("app: a:b\nwatch: {debounce_ms: '${D:-20}'}\nstop_grace: ${G}\nreload: {warm: '${W}'}\n", {"G": "2.5", "W": "false"})
    assert (cfg.watch.debounce_ms, cfg.stop_grace, cfg.reload.warm) == (20, 2.5, False)


# -- app, command, listen ------------------------------------------------------------------------


def test_nothing_to_run(error):
    err = error("image: x\n")
    assert_error(err, "devbox.yml:1: nothing to run", "set `app: module:callable` or `command: ...`")


def test_app_and_command_together(error):
    err = error("app: a:b\nimage: x\ncommand: python -m http.server\n")
    assert err.message == "devbox.yml:3: command cannot be set together with `app` (line 1)"


@pytest.mark.parametrize("app", ["nocolon", "a:", ":b", "a b:c", "a:b(", "a:1", "a:b()()", "1a:b"])
def test_app_must_be_module_colon_callable(error, app):
    err = error(f"app: '{app}'\n")
    assert err.message == f"devbox.yml:1: app {app!r} is not module:callable"


def test_app_may_be_dotted_on_both_sides(load):
    assert load("app: my.pkg.wsgi:app.wsgi_app\n").app == "my.pkg.wsgi:app.wsgi_app"


def test_command_string_is_split_like_a_shell(load):
    cfg = load("command: python -c 'print(1)' --flag=\"a b\"\n")
    assert cfg.command == ("python", "-c", "print(1)", "--flag=a b")


def test_unbalanced_quotes_in_command(error):
    err = error("command: echo 'oops\n")
    assert err.message == "devbox.yml:1: command cannot be split into arguments: No closing quotation"


def test_empty_command(error):
    assert error("command: []\n").message == "devbox.yml:1: command must not be empty"


@pytest.mark.parametrize(
    "command, listen",
    [
        ("uvicorn app:app --fd 3", "fd"),
        ("python -m uvicorn app:app --fd=3", "fd"),
        ("uvicorn app:app --port 8000", "self"),
        ("gunicorn --bind fd://3 app:app", "fd"),
        ("gunicorn -b 0.0.0.0:8000 app:app", "self"),
        ("flask --app app run", "fd"),
        ("python -m flask run", "fd"),
        ("/venv/bin/flask run", "fd"),
        ("gunicorn app:app", "fd"),
        ("python -m gunicorn -w 2 app:app", "fd"),
        ("gunicorn --bind=0.0.0.0:8000 app:app", "self"),
        ("gunicorn -c gunicorn.conf.py app:app", "self"),
        ("python manage.py runserver 0.0.0.0:8000", "fd"),
        ("python3 manage.py runserver --noreload", "fd"),
        ("python manage.py migrate", "fd"),  # any Python command: nothing binds, nothing lost
        ("./migrate.sh", "self"),
    ],
)
def test_listen_defaults_by_command(load, command, listen):
    assert load(f"command: {command}\n").listen == listen


def test_listen_can_be_set(load):
    assert load("command: python serve.py\nlisten: fd\n").listen == "fd"


def test_listen_self_with_app_is_an_error(error):
    err = error("app: a:b\nlisten: self\n")
    assert err.message == "devbox.yml:2: listen cannot be 'self' with `app`"


# -- ports ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written, mapping",
    [
        ('"8000"', PortMapping("127.0.0.1", 8000, 8000)),
        ("8000", PortMapping("127.0.0.1", 8000, 8000)),
        ('"8001:8000"', PortMapping("127.0.0.1", 8001, 8000)),
        ("8001:50", PortMapping("127.0.0.1", 8001, 50)),  # YAML 1.1 would read 480050
        ('"0.0.0.0:8000:8000"', PortMapping("0.0.0.0", 8000, 8000)),
        ('"[::1]:8000:80"', PortMapping("::1", 8000, 80)),
        ('"8000:80/tcp"', PortMapping("127.0.0.1", 8000, 80)),
        ("${PORT:-9000}", PortMapping("127.0.0.1", 9000, 9000)),
    ],
)
def test_ports(load, written, mapping):
    cfg = load(f"app: a:b\nports:\n  - {written}\n")
    assert cfg.ports == (mapping,)


def test_a_single_port_needs_no_list(load):
    assert load("app: a:b\nports: 8080\n").ports == (PortMapping("127.0.0.1", 8080, 8080),)


def test_ipv6_url():
    assert PortMapping("::", 8000, 80).url == "http://[::1]:8000"
    assert str(PortMapping("::1", 8000, 80)) == "[::1]:8000:80"


@pytest.mark.parametrize(
    "written, problem",
    [
        ('"80a"', "'80a' is not a port"),
        ('"1:2:3:4"', "'1:2:3:4' is not a port"),
        ('"8000-8010"', "'8000-8010' is not a port"),
        ("true", "true is not a port"),
        ("70000", "'70000': port 70000 is out of range 1..65535"),
        ('"0:80"', "'0:80': port 0 is out of range 1..65535"),
        ('"localhost:80:80"', "'localhost:80:80' has an invalid host address 'localhost'"),
    ],
)
def test_port_errors(error, written, problem):
    err = error(f"app: a:b\nports:\n  - \"8000\"\n  - {written}\n")
    assert_error(err, f"devbox.yml:4: ports[1] {problem}", 'use "8000", "8000:80" or "127.0.0.1:8000:80"')


def test_port_error_message_as_the_user_sees_it(error):
    err = error('app: a:b\nports: ["8000", "80a"]\n')
    assert str(err) == 'devbox.yml:2: ports[1] \'80a\' is not a port (use "8000", "8000:80" or "127.0.0.1:8000:80")'


def test_the_same_host_port_twice(error):
    err = error('app: a:b\nports: ["8000", "8000:80"]\n')
    assert err.message == "devbox.yml:2: ports[1] host port 8000 on 127.0.0.1 is already used by ports[0]"


def test_no_ports_at_all(error):
    assert error("app: a:b\nports: []\n").message == "devbox.yml:2: ports must list at least one port (the first is the app's)"


# -- env -----------------------------------------------------------------------------------------


def test_env_values_are_strings_as_written(load):
    cfg = load("app: a:b\nenv:\n  B: 1\n  A: true\n  C: 1.50\n  D: yes\n  E: ''\n  F: hello world\n")
    assert cfg.env == (("B", "1"), ("A", "true"), ("C", "1.50"), ("D", "yes"), ("E", ""), ("F", "hello world"))


def test_env_null_is_an_error(error):
    err = error("app: a:b\nenv:\n  DEBUG:\n")
    assert_error(err, "devbox.yml:3: env.DEBUG is null", 'write DEBUG: "" for an empty value')


def test_env_list_form(load):
    assert load("app: a:b\nenv: [A=1, B=x=y]\n").env_dict() == {"A": "1", "B": "x=y"}


@pytest.mark.parametrize("item, problem", [("JUSTKEY", "'JUSTKEY' is not KEY=VALUE"), ("=v", "'=v' is not KEY=VALUE")])
def test_env_list_errors(error, item, problem):
    assert error(f"app: a:b\nenv:\n  - A=1\n  - {item}\n").message == f"devbox.yml:4: env[1] {problem}"


def test_env_list_sets_a_key_twice(error):
    assert error("app: a:b\nenv: [A=1, A=2]\n").message == "devbox.yml:2: env[1] sets A a second time"


def test_env_of_the_wrong_shape(error):
    assert error("app: a:b\nenv:\n  A: [1]\n").message == "devbox.yml:3: env.A must be a string, got a list"


# -- interpolation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "written, environ, value",
    [
        ("${V}", {"V": "x"}, "x"),
        ("${V:-d}", {}, "d"),
        ("${V:-d}", {"V": ""}, "d"),
        ("${V-d}", {"V": ""}, ""),
        ("${V-d}", {}, "d"),
        ("${V:+alt}", {"V": "x"}, "alt"),
        ("${V:+alt}", {"V": ""}, ""),
        ("${V+alt}", {"V": ""}, "alt"),
        ("$V/x", {"V": "a"}, "a/x"),
        ("a$$b", {}, "a$b"),
        ("$${V}", {"V": "x"}, "${V}"),
        ("${A:-${B:-c}}", {}, "c"),
        ("${A:-${B}}", {"B": "b"}, "b"),
        ("pre-${V}-post", {"V": "x"}, "pre-x-post"),
    ],
)
def test_interpolation(load, written, environ, value):
    assert load(f"app: a:b\nenv:\n  X: '{written}'\n", environ).env_dict()["X"] == value


def test_an_unset_variable_is_empty_and_warned_about_once(load):
    cfg = load("app: a:b\nenv:\n  A: '${MISSING}'\n  B: $MISSING\n  C: ${MISSING:-}\n")
    assert cfg.env_dict() == {"A": "", "B": "", "C": ""}
    assert cfg.warnings == ("devbox.yml:3: env.A: MISSING is not set, using an empty string",)
    assert "warnings" not in cfg.to_dict()


def test_environ_defaults_to_the_process_environment(project, monkeypatch):
    monkeypatch.setenv("DEVBOX_TEST_IMAGE", "from-env:1")
    (project / "devbox.yml").write_text("app: a:b\nimage: ${DEVBOX_TEST_IMAGE}\n")
    assert config.load(project / "devbox.yml").image == "from-env:1"


def test_a_required_variable(error):
    err = error("app: a:b\nimage: ${IMAGE:?set IMAGE to the base image}\n")
    assert_error(err, "devbox.yml:2: image needs IMAGE: set IMAGE to the base image", "set IMAGE in the environment")
    err = error("app: a:b\nimage: ${IMAGE?}\n")
    assert err.message == "devbox.yml:2: image needs IMAGE: it is not set"


@pytest.mark.parametrize(
    "written, problem",
    [
        ("'${V'", "'${V' has no closing brace"),
        ("'cost $5'", "a '$' in 'cost $5' starts no variable"),
        ("'${}'", "'${}' is not a variable"),
        ("'${V:x}'", "'${V:x}' is not a valid substitution"),
    ],
)
def test_bad_interpolation(error, written, problem):
    err = error(f"app: a:b\nuser: {written}\n")
    assert_error(err, f"devbox.yml:2: user {problem}", "write ${VAR}, ${VAR:-default} or $VAR; $$ is a literal $")


def test_keys_are_not_interpolated(load):
    assert load("app: a:b\nenv: {$X: '1'}\n", {"X": "Y"}).env_dict() == {"$X": "1"}


# -- build ---------------------------------------------------------------------------------------


def test_build_alone_tags_a_devbox_image(load, project):
    cfg = load("app: a:b\nbuild: {}\n")
    assert cfg.build == Build(".", "docker/Dockerfile", (), "devbox-hello:dev", project.resolve(), project.resolve() / "docker/Dockerfile")
    assert cfg.image == cfg.image_tag == "devbox-hello:dev"


def test_build_with_image_names_the_tag(load, project):
    cfg = load("app: a:b\nimage: shop:dev\nbuild:\n  context: svc\n  dockerfile: Dockerfile.dev\n  args: {PY: 3.12, X: y}\n")
    assert cfg.build.tag == cfg.image_tag == "shop:dev"
    assert cfg.build.context == "svc" and cfg.build.dockerfile == "Dockerfile.dev"
    assert cfg.build.dockerfile_path == project.resolve() / "svc" / "Dockerfile.dev"
    assert cfg.build.args_dict() == {"PY": "3.12", "X": "y"}
    assert cfg.watch.rebuild[-1] == "svc/Dockerfile.dev"  # the Dockerfile in use rebuilds too


def test_build_short_form(load, project):
    cfg = load("app: a:b\nbuild: ./svc\n")
    assert cfg.build.context == "./svc"
    assert cfg.build.context_path == project.resolve() / "svc"


def test_build_unknown_key(error):
    err = error("app: a:b\nbuild:\n  dockerfil: x\n")
    assert_error(err, "devbox.yml:3: unknown key 'build.dockerfil'", "did you mean 'dockerfile'?")


# -- watch paths ---------------------------------------------------------------------------------


def test_watch_paths_inside_the_project(load, project):
    (project / "src").mkdir()
    (project / "inner").symlink_to(project / "src")
    cfg = load("app: a:b\nwatch:\n  paths: [., ./src/, src/../src, inner]\n")
    assert cfg.watch.paths == (".", "src")


def test_watch_path_escaping_with_dotdot(error, project):
    err = error("app: a:b\nwatch:\n  paths:\n    - .\n    - ../elsewhere\n")
    assert err.message == f"devbox.yml:5: watch.paths[1] '../elsewhere' is outside the project ({project.parent.resolve() / 'elsewhere'})"
    assert err.hint == f"watch paths must be inside {project.resolve()}, the directory of devbox.yml"


def test_watch_path_escaping_through_a_symlink(error, project, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (project / "link").symlink_to(outside)
    err = error("app: a:b\nwatch:\n  paths: [link]\n")
    assert err.message == f"devbox.yml:3: watch.paths[0] 'link' is outside the project ({outside.resolve()})"


def test_watch_path_absolute_outside(error):
    err = error("app: a:b\nwatch:\n  paths: [/etc]\n")
    assert err.message.startswith("devbox.yml:3: watch.paths[0] '/etc' is outside the project")


def test_watch_path_that_does_not_exist(error, project):
    err = error("app: a:b\nwatch:\n  paths: [srcx]\n")
    assert_error(err, "devbox.yml:3: watch.paths[0] 'srcx' does not exist", f"paths are relative to {project.resolve()}")


# -- compose -------------------------------------------------------------------------------------


def test_compose_needs_no_top_level_app(load, project):
    (project / "docker-compose.yml").write_text("services: {}\n")
    cfg = load("compose:\n  services:\n    web: {app: 'web.main:app'}\n")
    assert cfg.app is None and cfg.command is None
    assert cfg.compose.file == "docker-compose.yml"
    assert cfg.compose.file_path == project.resolve() / "docker-compose.yml"
    assert cfg.compose.project_name == "hello"
    (web,) = cfg.compose.services
    assert (web.name, web.app, web.command, web.listen, web.port, web.env) == ("web", "web.main:app", None, "fd", 8000, ())
    assert web.watch == cfg.watch
    assert cfg.compose.service("web") is web


def test_compose_services_reuse_the_top_level_rules(load, project):
    (project / "api").mkdir()
    cfg = load(
        """\
        name: shop.dev
        watch:
          ignore: ["*.log"]
          debounce_ms: 20
        compose:
          file: compose/docker-compose.yml
          services:
            api:
              command: uvicorn api:app --fd 3
              port: 9000
              env: {DEBUG: 1}
              watch: {paths: [api], no_reload: []}
            worker:
              command: python worker.py
        """
    )
    assert cfg.compose.file == "compose/docker-compose.yml"
    assert cfg.compose.project_name == "shop-dev"
    api, worker = cfg.compose.services
    assert (api.command, api.listen, api.port, api.env_dict()) == (("uvicorn", "api:app", "--fd", "3"), "fd", 9000, {"DEBUG": "1"})
    assert api.watch == Watch(("api",), ("*.log",), config.DEFAULT_REBUILD, (), 20)
    assert worker.listen == "fd" and worker.watch == cfg.watch  # a Python command; no port: see supervisor_argv


@pytest.mark.parametrize(
    "service, message",
    [
        ("      port: 80\n", "devbox.yml:5: compose.services.web has nothing to run"),
        ("      app: a:b\n      port: http\n", "devbox.yml:6: compose.services.web.port must be an integer in 1..65535, got 'http'"),
        ("      app: a:b\n      ports: [80]\n", "devbox.yml:6: unknown key 'compose.services.web.ports'"),
        ("      app: a:b\n      watch: {debounce_ms: 5}\n", "devbox.yml:6: unknown key 'compose.services.web.watch.debounce_ms'"),
        ("      app: a:b\n      watch: {paths: [..]}\n", None),
        ("      app: a:b\n      env: {A: null}\n", "devbox.yml:6: compose.services.web.env.A is null"),
    ],
)
def test_compose_service_errors(error, service, message):
    err = error("compose:\n  file: c.yml\n  services:\n    web:\n" + service)
    if message is None:
        assert err.message.startswith("devbox.yml:6: compose.services.web.watch.paths[0] '..' is outside the project")
    else:
        assert err.message == message


def test_compose_without_a_file_to_find(error, project):
    err = error("compose:\n  services: {web: {app: a:b}}\n")
    assert err.message.startswith("devbox.yml:2: compose has no `file` and there is no compose.yaml or")
    assert err.hint == "set `file: path/to/compose.yml`"


def test_an_empty_service(error):
    err = error("compose:\n  file: c.yml\n  services:\n    web:\n")
    assert_error(err, "devbox.yml:4: compose.services.web has nothing to run", "set `app: module:callable` or `command: ...`")


def test_compose_without_services(error):
    assert error("compose:\n  file: c.yml\n").message == "devbox.yml:2: compose has no `services`"


def test_compose_bad_project_name(error):
    err = error("compose:\n  file: c.yml\n  project_name: Shop.Web\n  services: {web: {app: a:b}}\n")
    assert err.message == "devbox.yml:3: compose.project_name 'Shop.Web' is not a compose project name (lowercase letters, digits, _ and -)"


# -- the result ----------------------------------------------------------------------------------


def test_config_is_hashable_and_its_dict_is_stable_json(load, project):
    (project / "docker-compose.yml").write_text("")
    text = "app: a:b\nbuild: {args: {A: 1}}\nenv: {B: 2}\ncompose: {services: {web: {command: [run, 1]}}}\n"
    first, second = load(text), load(text)
    assert hash(first) == hash(second) and first == second
    dumped = json.dumps(first.to_dict(), sort_keys=True)
    assert dumped == json.dumps(second.to_dict(), sort_keys=True)
    data = json.loads(dumped)
    assert data["root"] == str(project.resolve())
    assert data["build"]["args"] == [["A", "1"]]
    assert data["compose"]["services"][0]["command"] == ["run", "1"]
    assert data["ports"] == [{"host_ip": "127.0.0.1", "host_port": 8000, "container_port": 8000}]
    assert load(text.replace("B: 2", "B: 3")).to_dict() != first.to_dict()


def test_config_is_frozen(load):
    cfg = load("app: a:b\n")
    with pytest.raises(AttributeError):
        cfg.name = "x"


def test_parse_without_a_file(tmp_path):
    cfg = config.parse("app: a:b\n", tmp_path / "devbox.yml", environ={})
    assert cfg.root == tmp_path.resolve() and cfg.path == tmp_path / "devbox.yml"
    with pytest.raises(ConfigError) as info:
        config.parse("app: a:b\nx: 1\n", tmp_path / "devbox.yml", display="conf/devbox.yml", environ={})
    assert info.value.message == "conf/devbox.yml:2: unknown key 'x'"


def test_default_listen_is_public():
    assert config.default_listen(["uvicorn", "m:app", "--fd", "3"]) == "fd"
    assert config.default_listen(["python", "app.py"]) == "fd"  # the shim adopts fd 3 for it


@pytest.mark.parametrize("command, listen", [
    (["python3", "app.py"], "fd"),  # Bottle's run(reloader=True), http.server, wsgiref...
    (["python3.12", "-m", "uvicorn", "main:app", "--port", "8000"], "fd"),
    (["/usr/bin/python", "serve.py"], "fd"),
    (["python3", "-m", "granian", "main:app"], "self"),  # binds in Rust: the shim cannot help
    (["granian", "main:app"], "self"),
    (["node", "server.js"], "self"),
    (["./run.sh"], "self"),
])
def test_python_commands_listen_on_the_supervisors_socket_by_default(command, listen):
    assert config.default_listen(command) == listen


def test_load_does_not_depend_on_the_process_cwd(project, tmp_path, monkeypatch):
    (project / "devbox.yml").write_text("app: a:b\n")
    monkeypatch.chdir(tmp_path)
    assert config.load(Path("devbox.yml"), cwd=project, environ={}).root == project.resolve()
    assert os.getcwd() == str(tmp_path)


def test_errors_about_a_key_point_at_the_key(error):
    err = error("app: a:b\nenv:\n  A: 1\n  'B C': 2\n")
    assert_error(err, "devbox.yml:4: env has an invalid name 'B C'", "no = or spaces in names")
    err = error("compose:\n  file: c.yml\n  services:\n    'web/1': {app: a:b}\n")
    assert err.message == "devbox.yml:4: compose.services has an invalid service name 'web/1'"


def test_extension_keys_only_at_the_top_level(error):
    assert error("app: a:b\nwatch:\n  x-note: hi\n").message == "devbox.yml:3: unknown key 'watch.x-note'"
