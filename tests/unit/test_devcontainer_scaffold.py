"""`devbox init --from-devcontainer`: the devbox.yml it writes loads to the same Config as the
devcontainer.json, says what it cannot carry, and never overwrites without --force."""

import dataclasses
import json
from pathlib import Path

import pytest

from devbox import cli, config, scaffold
from devbox.errors import DevboxError

DEVCONTAINER = {
    "name": "Shop API",
    "build": {"dockerfile": "Dockerfile", "context": "..", "args": {"PY": "3.12"}, "target": "dev"},
    "workspaceFolder": "/srv/${localWorkspaceFolderBasename}",
    "forwardPorts": [8000, 5678],
    "appPort": "9000:8000",
    "containerEnv": {"HOME_ON_HOST": "${localEnv:HOME}", "N": 1},
    "remoteEnv": {"PATH": "${containerEnv:PATH}:/srv/bin"},
    "remoteUser": "vscode",
    "updateRemoteUserUID": False,
    "mounts": [{"type": "volume", "source": "pip-cache", "target": "/root/.cache/pip"}],
    "postCreateCommand": {"deps": "pip install -e . && echo $HOME", "check": ["python", "-V"]},
    "postStartCommand": "echo started",
    "waitFor": "postCreateCommand",
    "customizations": {"devbox": {"command": "uvicorn main:app --fd 3", "watch": {"ignore": ["*.log"]}}},
}
ENVIRON = {"HOME": "/home/me"}


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "shop"
    (root / ".devcontainer").mkdir(parents=True)
    (root / ".devcontainer" / "Dockerfile").write_text("FROM x\n")
    return root


def write(project, content=DEVCONTAINER, where=".devcontainer/devcontainer.json"):
    (project / where).parent.mkdir(parents=True, exist_ok=True)
    (project / where).write_text(json.dumps(content))


def carried(cfg):
    """What a devbox.yml can say of a Config."""
    return dataclasses.replace(cfg, path=None, source="", warnings=(), port_labels=(), update_remote_user_uid=False)


def test_the_written_devbox_yml_means_what_devcontainer_json_does(project):
    write(project)
    lines = list(scaffold.from_devcontainer(project, environ=ENVIRON))
    assert lines[0] == "created devbox.yml from .devcontainer/devcontainer.json (app: uvicorn main:app --fd 3, image devbox-shop-api:dev)"
    from_yml = config.load(project / "devbox.yml", cwd=project, environ={})
    from_json = config.load(Path(".devcontainer/devcontainer.json"), cwd=project, environ=ENVIRON)
    assert carried(from_yml) == carried(from_json)
    assert from_yml.hooks.post_create[0].shell == "pip install -e . && echo $HOME"  # a $ stays a $


def test_what_devbox_yml_cannot_say_is_named(project):
    write(project, {**DEVCONTAINER, "runArgs": ["--cap-add=SYS_PTRACE"], "portsAttributes": {"8000": {"label": "API"}}})
    lines = list(scaffold.from_devcontainer(project, environ=ENVIRON))
    assert "container options (runArgs, init, privileged, capAdd, securityOpt), portsAttributes labels" in lines[1]
    assert lines[2] == "HOME: written with this machine's values (write ${HOME} in devbox.yml to read it at each start)"


def test_it_never_overwrites_without_force(project):
    write(project)
    (project / "devbox.yml").write_text("app: a:b\n")
    with pytest.raises(DevboxError) as info:
        list(scaffold.from_devcontainer(project, environ=ENVIRON))
    assert str(info.value) == "devbox.yml already exists; nothing was written (use `devbox init --force` to overwrite)"
    assert (project / "devbox.yml").read_text() == "app: a:b\n"
    list(scaffold.from_devcontainer(project, force=True, environ=ENVIRON))
    assert "from-devcontainer" in (project / "devbox.yml").read_text()


def test_without_a_devcontainer_json_it_says_so(project):
    with pytest.raises(DevboxError) as info:
        list(scaffold.from_devcontainer(project))
    assert str(info.value).startswith(f"no .devcontainer/devcontainer.json in {project}")


def test_a_compose_config_and_a_named_path(project):
    write(project, {"dockerComposeFile": "../../compose.yml", "service": "web", "runServices": ["web"],
                    "customizations": {"devbox": {"app": "shop:app"}}}, where=".devcontainer/web/devcontainer.json")  # fmt: skip
    lines = list(scaffold.from_devcontainer(project, Path(".devcontainer/web/devcontainer.json"), environ={}))
    cfg = config.load(project / "devbox.yml", cwd=project, environ={})
    assert (cfg.compose.file, cfg.compose.service("web").app) == ("compose.yml", "shop:app")
    assert "runServices" in lines[1]


def test_init_from_devcontainer_through_the_cli(project, monkeypatch, capsys):
    write(project)
    monkeypatch.chdir(project)
    monkeypatch.setattr("os.environ", ENVIRON)
    assert cli.main(["init", "--from-devcontainer"]) == 0
    assert capsys.readouterr().out.startswith("created devbox.yml from .devcontainer/devcontainer.json")
    assert cli.main(["init", "--from-devcontainer", ".devcontainer/devcontainer.json", "--force"]) == 0
    assert capsys.readouterr().out.startswith("created devbox.yml")
