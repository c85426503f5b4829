"""devcontainer.json as a devbox config: where it is found, each key mapped onto Config, what is
skipped said once, and a one-line error with file and line for each wrong value."""

import json
import textwrap
from pathlib import Path

import pytest

from devbox import config
from devbox.config import ContainerOptions, Forward, Hook, Mount, PortMapping
from devbox.devcontainer import mapping
from devbox.errors import ConfigError


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "proj"
    (root / ".devcontainer").mkdir(parents=True)
    (root / "app.py").write_text("app = None\n")
    return root


@pytest.fixture
def load(project):
    """Write .devcontainer/devcontainer.json (text, or a dict as JSON) and load it from the
    project folder, as `devbox up` there would."""

    def load(content, environ=None, where=".devcontainer/devcontainer.json"):
        text = json.dumps(content, indent=2) if isinstance(content, dict) else textwrap.dedent(content)
        (project / where).parent.mkdir(parents=True, exist_ok=True)
        (project / where).write_text(text)
        return config.load(cwd=project, environ=environ if environ is not None else {})

    return load


@pytest.fixture
def error(load):
    def error(content, environ=None):
        with pytest.raises(ConfigError) as info:
            load(content, environ)
        assert "\n" not in str(info.value)
        assert info.value.file == ".devcontainer/devcontainer.json"
        return info.value

    return error


def image(**keys):
    return {"image": "python:3.12", **keys}


def warned(cfg, text):
    """The one warning that contains `text` (said once)."""
    found = [w for w in cfg.warnings if text in w]
    assert len(found) == 1, cfg.warnings
    return found[0]


# -- where it is found -------------------------------------------------------------------------


def test_without_devbox_yml_the_devcontainer_json_is_read(load, project):
    cfg = load(image())
    assert cfg.path == project / ".devcontainer" / "devcontainer.json"
    assert cfg.root == project.resolve()
    assert cfg.source == "devcontainer.json"
    assert "source" not in cfg.to_dict() and "port_labels" not in cfg.to_dict()


def test_devbox_yml_wins_over_devcontainer_json(load, project):
    (project / "devbox.yml").write_text("app: app:app\n")
    assert load(image()).source == "devbox.yml"


def test_a_subfolder_finds_the_projects_devcontainer_json(project):
    (project / ".devcontainer" / "devcontainer.json").write_text('{"image": "x"}')
    (project / "src").mkdir()
    assert config.find_config(project / "src") == project / ".devcontainer" / "devcontainer.json"


def test_a_devcontainer_json_at_the_root_is_found(project):
    (project / ".devcontainer.json").write_text('{"image": "x"}')
    assert config.find_config(project) == project / ".devcontainer.json"
    assert config.load(cwd=project, environ={}).root == project.resolve()


def test_one_named_config_is_used(load, project):
    cfg = load(image(), where=".devcontainer/python/devcontainer.json")
    assert cfg.path == project / ".devcontainer" / "python" / "devcontainer.json"
    assert cfg.root == project.resolve()


def test_several_named_configs_and_no_f_is_one_line_listing_them(project):
    for name in ("python", "node"):
        (project / ".devcontainer" / name).mkdir()
        (project / ".devcontainer" / name / "devcontainer.json").write_text('{"image": "x"}')
    with pytest.raises(ConfigError) as info:
        config.load(cwd=project, environ={})
    assert str(info.value) == (
        f"several devcontainer configs in {project}: .devcontainer/node/devcontainer.json, "
        ".devcontainer/python/devcontainer.json (pick one with -f PATH)"
    )
    cfg = config.load(Path(".devcontainer/node/devcontainer.json"), cwd=project, environ={})
    assert cfg.path.parent.name == "node"


def test_the_usual_place_wins_over_named_configs(project):
    (project / ".devcontainer" / "devcontainer.json").write_text('{"image": "x"}')
    (project / ".devcontainer" / "node").mkdir()
    (project / ".devcontainer" / "node" / "devcontainer.json").write_text('{"image": "y"}')
    assert config.find_config(project) == project / ".devcontainer" / "devcontainer.json"


def test_f_names_a_devcontainer_json_anywhere(tmp_path):
    (tmp_path / "dc.json").write_text('{"image": "x", "customizations": {"devbox": {"app": "a:b"}}}')
    cfg = config.load(Path("dc.json"), cwd=tmp_path, environ={})
    assert (cfg.source, cfg.root, cfg.image) == ("devcontainer.json", tmp_path.resolve(), "x")


def test_a_malformed_file_is_one_line_with_file_and_line(error):
    err = error('{\n  "image": "x"\n  "forwardPorts": [8000]\n}\n')
    assert str(err).startswith(".devcontainer/devcontainer.json:3: invalid JSON: expected ',' or '}'")


def test_an_empty_file_says_what_to_write(error):
    err = error("// only a comment\n")
    assert (err.line, err.problem) == (1, "the file is empty")


# -- image, build, name, workspace -------------------------------------------------------------


def test_name_image_and_the_spec_default_workspace_folder(load):
    cfg = load({"name": "Python 3 & Postgres", "image": "python:3.12"})
    assert (cfg.name, cfg.image, cfg.build) == ("python-3-postgres", "python:3.12", None)
    assert cfg.workdir == "/workspaces/proj"


def test_a_name_that_makes_no_devbox_name_leaves_the_folder_name(load):
    assert load(image(name="!!!")).name == "proj"


def test_build_paths_are_relative_to_the_devcontainer_folder(load, project):
    (project / ".devcontainer" / "Dockerfile").write_text("FROM x\n")
    cfg = load({"build": {"dockerfile": "Dockerfile", "context": "..", "args": {"V": "3.12"}, "target": "dev"}})
    build = cfg.build
    assert (build.context_path, build.dockerfile_path) == (project.resolve(), project.resolve() / ".devcontainer" / "Dockerfile")
    assert (build.args, build.target, build.tag) == ((("V", "3.12"),), "dev", "devbox-proj:dev")
    assert ".devcontainer/Dockerfile" in cfg.watch.rebuild


def test_build_context_defaults_to_the_devcontainer_folder(load, project):
    build = load({"build": {"dockerfile": "Dockerfile"}}).build
    assert build.context_path == (project / ".devcontainer").resolve()
    assert build.dockerfile == "Dockerfile"


def test_the_legacy_dockerfile_key_builds_too(load, project):
    build = load({"dockerFile": "Dockerfile", "context": ".."}).build
    assert build.dockerfile_path == project.resolve() / ".devcontainer" / "Dockerfile"


def test_build_needs_a_dockerfile(error):
    err = error('{\n  "build": {"context": ".."}\n}')
    assert (err.line, err.problem) == (2, "build has no `dockerfile`")


def test_build_cache_from_is_said_not_used(load):
    cfg = load({"build": {"dockerfile": "Dockerfile", "cacheFrom": "x"}})
    assert warned(cfg, "build.cacheFrom").startswith(".devcontainer/devcontainer.json:")


def test_something_to_run_is_needed(error):
    assert error('{"name": "x"}').problem == "has no `image`, `build` or `dockerComposeFile`"


def test_workspace_folder_and_variables_in_it(load):
    cfg = load(image(workspaceFolder="/src/${localWorkspaceFolderBasename}", containerEnv={"W": "${containerWorkspaceFolder}"}))
    assert cfg.workdir == "/src/proj"
    assert cfg.env_dict() == {"W": "/src/proj"}


def test_a_workspace_mount_of_the_project_at_the_workspace_folder_is_devboxs_own(load):
    cfg = load(image(
        workspaceMount="source=${localWorkspaceFolder},target=/work,type=bind,consistency=cached", workspaceFolder="/work",
    ))  # fmt: skip
    assert (cfg.workspace_mount, cfg.workdir) == (None, "/work")


def test_another_workspace_mount_replaces_the_projects_mount(load, project):
    cfg = load(image(workspaceMount="source=${localWorkspaceFolder}/..,target=/repo,type=bind", workspaceFolder="/repo/proj"))
    assert cfg.workspace_mount == Mount("bind", str(project.parent.resolve()), "/repo")


# -- ports ---------------------------------------------------------------------------------------


def test_forward_ports_and_app_port_are_published_on_loopback(load):
    cfg = load(image(appPort=["9000:8000"], forwardPorts=[8000, "localhost:5000", "8000"], runArgs=["-p", "9000:8000"]))
    assert cfg.ports == (
        PortMapping("127.0.0.1", 9000, 8000), PortMapping("127.0.0.1", 8000, 8000), PortMapping("127.0.0.1", 5000, 5000),
    )  # fmt: skip
    assert cfg.app_port == 8000


def test_a_single_app_port_number(load):
    assert load(image(appPort=3000)).ports == (PortMapping("127.0.0.1", 3000, 3000),)


def test_no_ports_means_devboxs_default(load):
    assert load(image()).ports == (PortMapping("127.0.0.1", 8000, 8000),)


def test_a_bad_port_is_named_with_its_line(error):
    err = error('{\n  "image": "x",\n  "forwardPorts": [\n    8000,\n    70000\n  ]\n}')
    assert (err.line, err.key) == (5, "forwardPorts[1]")
    assert err.problem.startswith("forwardPorts[1] '70000': port 70000 is out of range")


def test_a_service_port_needs_a_compose_config(error):
    err = error(image(forwardPorts=["db:5432"]))
    assert err.problem == "forwardPorts[0] 'db:5432' names the service 'db', but this is not a dockerComposeFile config"


def test_ports_attributes_labels_and_the_rest_said_once(load):
    cfg = load(image(forwardPorts=[8000], portsAttributes={
        "8000": {"label": "Web", "onAutoForward": "notify"}, "3000-3005": {"label": "Tools"}, "9000": {"protocol": "https"},
    }))  # fmt: skip
    assert cfg.port_labels == (("8000", "Web"), ("3000-3005", "Tools"))
    assert (cfg.port_label(8000), cfg.port_label(3002), cfg.port_label(9000)) == ("Web", "Tools", None)
    assert "onAutoForward, protocol" in warned(cfg, "portsAttributes")


# -- environment and user ------------------------------------------------------------------------


def test_container_env_then_remote_env(load):
    cfg = load(image(
        containerEnv={"A": "${localEnv:HOME}", "B": "1", "GONE": "x", "N": 2},
        remoteEnv={"PATH": "${containerEnv:PATH}:/x", "C": "${containerEnv:A}/c", "B": "2", "GONE": None},
    ), environ={"HOME": "/home/me"})  # fmt: skip
    assert cfg.env == (("A", "/home/me"), ("B", "2"), ("N", "2"), ("PATH", "${containerEnv:PATH}:/x"), ("C", "/home/me/c"))


def test_env_must_be_an_object(error):
    assert error(image(containerEnv=["A=1"])).problem == "containerEnv must be an object of names and values, got a list"


def test_remote_user_is_the_apps_user_and_its_uid_follows_the_host(load):
    cfg = load(image(remoteUser="vscode"))
    assert (cfg.user, cfg.update_remote_user_uid) == ("vscode", True)
    assert load(image(containerUser="app", updateRemoteUserUID=False)).update_remote_user_uid is False
    assert load(image()).update_remote_user_uid is False  # devbox's own default: the host uid:gid


def test_container_user_beside_another_remote_user_is_said(load):
    cfg = load(image(containerUser="root", remoteUser="vscode"))
    assert cfg.user == "vscode"
    assert "containerUser 'root' is not used" in warned(cfg, "containerUser")


# -- mounts, runArgs and container options -------------------------------------------------------


def test_mounts_in_string_and_object_forms(load, project):
    cfg = load(image(mounts=[
        "source=${localWorkspaceFolder}/../data,target=/data,type=bind,readonly,consistency=cached",
        {"type": "volume", "source": "cache", "target": "/root/.cache"},
        "type=tmpfs,target=/tmp/x",
    ]))  # fmt: skip
    assert cfg.mounts == (
        Mount("bind", str(project.parent.resolve() / "data"), "/data", True),
        Mount("volume", "cache", "/root/.cache"),
        Mount("tmpfs", "", "/tmp/x"),
    )


def test_a_mount_option_devbox_does_not_apply_is_named(error):
    err = error('{\n  "image": "x",\n  "mounts": [\n    "source=a,target=/a,bind-propagation=shared"\n  ]\n}')
    assert (err.line, err.problem) == (4, "mounts[0] has an option devbox does not apply: 'bind-propagation'")


def test_run_args_map_onto_devboxs_options(load, project):
    cfg = load(image(runArgs=[
        "--cap-add=SYS_PTRACE", "--security-opt", "seccomp=unconfined", "-e", "X=1", "-e", "FROM_HOST",
        "-v", "/var/run/docker.sock:/var/run/docker.sock", "--mount", "type=volume,source=v,target=/v", "--init",
        "--privileged=false", "--shm-size=1g", "--add-host", "db.local:127.0.0.1", "--network", "host",
        "--hostname", "dev", "-l", "team=web", "--device", "/dev/fuse", "-u", "1000", "--name", "mine", "-it",
    ]), environ={"FROM_HOST": "yes"})  # fmt: skip
    assert cfg.options == ContainerOptions(
        cap_add=("SYS_PTRACE",), security_opt=("seccomp=unconfined",), init=True, shm_size="1g",
        extra_hosts=(("db.local", "127.0.0.1"),), network="host", hostname="dev", labels=(("team", "web"),),
        devices=("/dev/fuse",),
    )  # fmt: skip
    assert cfg.env_dict() == {"X": "1", "FROM_HOST": "yes"}
    assert cfg.mounts == (Mount("bind", "/var/run/docker.sock", "/var/run/docker.sock"), Mount("volume", "v", "/v"))
    assert cfg.user == "1000"
    assert "--name, -it" in warned(cfg, "runArgs")
    assert cfg.options.create_kwargs() == {
        "cap_add": ["SYS_PTRACE"], "security_opt": ["seccomp=unconfined"], "init": True, "shm_size": "1g",
        "extra_hosts": {"db.local": "127.0.0.1"}, "devices": ["/dev/fuse"], "network_mode": "host",
        "hostname": "dev", "labels": {"team": "web"},
    }  # fmt: skip


def test_run_args_devbox_cannot_apply_are_refused_in_one_line(error):
    err = error('{\n  "image": "x",\n  "runArgs": ["--gpus", "all", "--memory=1g", "-e", "A=1"]\n}')
    assert (err.line, err.problem) == (3, "runArgs has options devbox does not apply: --gpus, 'all', --memory")
    assert err.hint.startswith("devbox applies ")


def test_a_run_arg_without_its_value(error):
    assert error(image(runArgs=["--cap-add"])).problem == "runArgs[0] --cap-add needs a value after it"


def test_top_level_container_options(load):
    cfg = load(image(init=True, privileged=True, capAdd=["SYS_PTRACE"], securityOpt=["seccomp=unconfined"]))
    assert cfg.options == ContainerOptions(cap_add=("SYS_PTRACE",), security_opt=("seccomp=unconfined",), privileged=True, init=True)


def test_override_command_false_is_said(load):
    cfg = load(image(overrideCommand=False))
    assert "the image's CMD does not run" in warned(cfg, "overrideCommand")
    assert load(image(overrideCommand=True)).warnings == load(image()).warnings


# -- lifecycle commands ------------------------------------------------------------------------


def test_lifecycle_commands_in_their_three_forms(load):
    cfg = load(image(
        initializeCommand="touch .env",
        onCreateCommand=["pip", "install", "-e", "."],
        updateContentCommand="",
        postCreateCommand={"deps": "pip install -r requirements.txt", "hello": ["echo", "hi"]},
        postStartCommand="echo started",
        postAttachCommand={"server": "echo attached"},
    ))  # fmt: skip
    hooks = cfg.hooks
    assert hooks.initialize == (Hook("initialize", "", shell="touch .env"),)
    assert hooks.on_create == (Hook("on_create", "", argv=("pip", "install", "-e", ".")),)
    assert hooks.update_content == ()
    assert hooks.post_create == (
        Hook("post_create", "deps", shell="pip install -r requirements.txt"), Hook("post_create", "hello", argv=("echo", "hi")),
    )  # fmt: skip
    assert [h.label for h in hooks.all()] == ["initialize", "on_create", "deps", "hello", "post_start", "server"]
    assert hooks.initialize[0].on_host and not hooks.post_start[0].on_host
    assert hooks.post_start[0].command == ("/bin/sh", "-c", "echo started")
    assert hooks.wait_for == "update_content"


def test_wait_for(load, error):
    assert load(image(waitFor="postCreateCommand")).hooks.wait_for == "post_create"
    err = error(image(waitFor="postCreate"))
    assert err.problem.startswith("waitFor must be one of initializeCommand, onCreateCommand")
    assert err.hint == "did you mean 'postCreateCommand'?"


def test_a_lifecycle_command_of_the_wrong_shape(error):
    err = error('{\n  "image": "x",\n  "postCreateCommand": {\n    "a": {"b": 1}\n  }\n}')
    assert (err.line, err.problem) == (4, "postCreateCommand.a must be a string or a list of arguments, got a mapping")
    assert error(image(postStartCommand=5)).problem.startswith("postStartCommand must be a string, a list")


# -- what is not devbox's, unknown keys ----------------------------------------------------------


def test_features_customizations_and_host_requirements_are_said_once_and_skipped(load):
    cfg = load(image(
        features={"example.test/features/node:1": {}, "example.test/features/git:1": {"version": "latest"}},
        customizations={"vscode": {"extensions": ["ms-python.python"]}, "codespaces": {}},
        hostRequirements={"cpus": 2},
    ))  # fmt: skip
    assert "features (example.test/features/node:1, example.test/features/git:1)" in warned(cfg, "features")
    assert "bake them into the image" in warned(cfg, "features")
    assert "vscode, codespaces" in warned(cfg, "customizations for")
    assert warned(cfg, "hostRequirements").startswith(".devcontainer/devcontainer.json:")


def test_an_unknown_key_names_the_closest(error):
    err = error('{\n  "image": "x",\n  "forwardPort": [8000]\n}')
    assert (str(err), err.key) == (
        ".devcontainer/devcontainer.json:3: unknown key 'forwardPort' (did you mean 'forwardPorts'?)", "forwardPort")
    assert error(image(postcreatecommand="x")).hint == "did you mean 'postCreateCommand'?"
    assert "README" in error(image(zzz=1)).hint


# -- what serves ---------------------------------------------------------------------------------


def test_customizations_devbox_takes_devbox_yml_keys(load, project):
    (project / "src").mkdir()
    cfg = load(image(
        containerEnv={"A": "1"},
        customizations={"devbox": {"command": "uvicorn main:app --fd 3", "watch": {"paths": ["src"]}, "env": {"B": "2"}}},
    ))  # fmt: skip
    assert (cfg.app, cfg.command, cfg.listen) == (None, ("uvicorn", "main:app", "--fd", "3"), "fd")
    assert cfg.watch.paths == ("src",)
    assert cfg.env_dict() == {"A": "1", "B": "2"}
    assert not [w for w in cfg.warnings if "serving" in w]


def test_customizations_devbox_is_checked_by_devbox_ymls_schema(error):
    err = error('{\n  "image": "x",\n  "customizations": {"devbox": {\n    "prots": ["8000"]\n  }}\n}')
    assert (err.line, err.problem, err.hint) == (4, "unknown key 'customizations.devbox.prots'", "did you mean 'ports'?")
    err = error(image(customizations={"devbox": {"app": "not an app"}}))
    assert err.key == "customizations.devbox.app"


def test_without_customizations_the_app_is_detected_and_said(load):
    cfg = load(image())
    assert cfg.app == "app:app"
    assert "serving app:app" in warned(cfg, "serving")


def test_nothing_to_serve_says_what_to_add(error, project):
    (project / "app.py").unlink()
    err = error(image())
    assert err.problem == f"says nothing devbox can serve, and no app was found in {project.resolve()}"
    assert '"customizations": {"devbox": {"app": "module:callable"}}' in err.hint


def test_detection_is_one_call_of_devbox_inits(project, monkeypatch):
    from devbox import scaffold
    from devbox.devcontainer import app

    monkeypatch.setattr(scaffold, "find_app", lambda root: scaffold.Found("Flask", "app:application"))  # the other detection, in one place
    assert app.detect_app(project) == "app:application"
    monkeypatch.setattr(scaffold, "find_app", lambda root: scaffold.Found("Flask", "nowhere:app"))
    assert app.detect_app(project) is None


# -- compose ---------------------------------------------------------------------------------------


def compose_config(**keys):
    return {
        "name": "web", "dockerComposeFile": ["../docker-compose.yml", "docker-compose.extend.yml"], "service": "web",
        "workspaceFolder": "/workspaces/${localWorkspaceFolderBasename}",
        "customizations": {"devbox": {"command": "flask run"}}, **keys,
    }  # fmt: skip


def test_compose_files_service_and_run_services(load, project):
    cfg = load(compose_config(runServices=["web", "db"], forwardPorts=[8001, "db:5432"], remoteEnv={"X": "1"}))
    compose = cfg.compose
    assert (compose.file, compose.file_path) == ("docker-compose.yml", project.resolve() / "docker-compose.yml")
    assert compose.overrides == (project.resolve() / ".devcontainer" / "docker-compose.extend.yml",)
    assert compose.run_services == ("web", "db")
    service = compose.service("web")
    assert (service.command, service.listen, service.port, service.env) == (("flask", "run"), "fd", 8001, (("X", "1"),))
    assert cfg.forwards == (Forward("web", 8001), Forward("db", 5432))
    assert (cfg.workdir, cfg.app, cfg.command) == ("/workspaces/proj", None, None)


def test_compose_defaults(load):
    cfg = load({"dockerComposeFile": "../docker-compose.yml", "service": "web"})
    assert cfg.compose.run_services is None and cfg.compose.overrides == ()
    assert (cfg.compose.service("web").app, cfg.compose.service("web").port) == ("app:app", 8000)
    assert cfg.workdir == "/app"  # the compose file says where the project is mounted


def test_compose_needs_a_service(error):
    err = error('{\n  "dockerComposeFile": "../docker-compose.yml"\n}')
    assert (err.line, err.problem) == (2, "dockerComposeFile needs `service`: the compose service devbox supervises")


def test_compose_says_what_is_for_image_configs(load):
    cfg = load(compose_config(appPort=[8000], runArgs=["--init"]))
    assert warned(cfg, "appPort is for image and build configs")
    assert warned(cfg, "runArgs is for image and build configs")


# -- the same keys in devbox.yml -------------------------------------------------------------------


def test_devbox_yml_has_hooks_and_mounts(tmp_path):
    (tmp_path / "devbox.yml").write_text(textwrap.dedent("""\
        app: a:b
        mounts: ["type=bind,source=data,target=/data", {type: volume, source: v, target: /v, read_only: true}]
        hooks:
          post_create: pip install -e .
          post_start: {a: [echo, a], b: echo b}
          wait_for: post_create
        build: {dockerfile: Dockerfile, target: dev}
    """))
    cfg = config.load(tmp_path / "devbox.yml", cwd=tmp_path, environ={})
    assert cfg.mounts == (Mount("bind", str(tmp_path.resolve() / "data"), "/data"), Mount("volume", "v", "/v", True))
    assert cfg.hooks.post_create == (Hook("post_create", "", shell="pip install -e ."),)
    assert [h.name for h in cfg.hooks.post_start] == ["a", "b"]
    assert (cfg.hooks.wait_for, cfg.build.target, cfg.source) == ("post_create", "dev", "devbox.yml")


def test_the_readme_shows_the_devcontainer_keys_as_declared():
    readme = Path(__file__).resolve().parents[2] / "README.md"
    table = mapping.reference_table()
    assert table in readme.read_text(), f"README.md's devcontainer.json table differs; paste this:\n{table}"
