"""Compose projects without an engine: the override file, the service check, the per-service
split of a watcher batch, compose's error text and the choice of compose CLI."""

import os
import stat
import textwrap
from pathlib import Path

import pytest

from devbox import compose, config, filters, paths
from devbox import plan as planning
from devbox.errors import ComposeError
from devbox.paths import covers

DEVBOX_YML = """
name: shop
stop_grace: 3
compose:
  file: docker-compose.yml
  services:
    web:
      app: web.app:app
      port: 8000
      env: {GREETING: "costs $$5"}
      watch: {paths: ["services/web", "services/common"]}
    api:
      command: python3 -m common.serve api.app:app --fd 3
      listen: fd
      port: 9000
      watch: {paths: ["services/api", "services/common"], no_reload: ["services/api/static/**"]}
"""


@pytest.fixture
def cfg(tmp_path):
    for path in ("services/web", "services/api/static", "services/common", "docs"):
        (tmp_path / path).mkdir(parents=True)
    (tmp_path / "docker-compose.yml").write_text("services: {}\n")
    (tmp_path / "devbox.yml").write_text(textwrap.dedent(DEVBOX_YML))
    return config.load(Path("devbox.yml"), cwd=tmp_path, environ={})


# -- the override file ---------------------------------------------------------------------------


def test_override_runs_the_supervisor_in_each_named_service(cfg, tmp_path):
    override = compose.plan_override(cfg, {}, tmp_path / ".devbox/supervisor", "abc123")
    assert sorted(override["services"]) == ["api", "web"]
    web, api = override["services"]["web"], override["services"]["api"]
    assert tuple(web["command"]) == planning.supervisor_command(app="web.app:app", port=8000, grace=3)
    assert tuple(api["command"]) == planning.supervisor_command(
        command=("python3", "-m", "common.serve", "api.app:app", "--fd", "3"), port=9000, listen="fd", grace=3)
    assert web["volumes"] == [f"{tmp_path}/.devbox/supervisor:{planning.SUPERVISOR_ROOT}:ro"]
    assert web["labels"][planning.LABEL_PROJECT] == "shop"
    assert web["labels"][compose.LABEL_SERVICE] == "web"
    assert web["labels"][compose.LABEL_SUPERVISOR] == "abc123"
    assert (web["stop_signal"], web["stop_grace_period"]) == ("SIGTERM", "5s")


def test_override_escapes_dollars_so_compose_keeps_values_literal(cfg, tmp_path):
    web = compose.plan_override(cfg, {}, tmp_path)["services"]["web"]
    assert web["environment"]["GREETING"] == "costs $$5"


def test_user_environment_wins_over_devbox_defaults_but_not_over_devbox_yml(cfg):
    user = {"web": {"environment": {"PYTHONUNBUFFERED": "0", "GREETING": "hi"}}}
    env = compose.plan_override(cfg, user, None)["services"]["web"]["environment"]
    assert "PYTHONUNBUFFERED" not in env  # the compose file's own value stays
    assert env["PYTHONPYCACHEPREFIX"] == "/tmp/devbox-pycache"
    assert env["GREETING"] == "costs $$5"  # devbox.yml's service env is explicit: it wins


def test_a_command_service_writes_no_bytecode(cfg):
    # Its imports are plain Python: a same-second, same-size save would load stale bytecode.
    env = compose.plan_override(cfg, {}, None)["services"]["api"]["environment"]
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"


def test_services_get_the_same_env_defaults_as_a_single_container(cfg, tmp_path):
    services = compose.plan_override(cfg, {}, None)["services"]
    for name, app in (("web", "app: web.app:app"), ("api", "command: python3 -m x --fd 3")):
        (tmp_path / "single.yml").write_text(f"{app}\n")
        single = dict(planning.plan(config.load(Path("single.yml"), cwd=tmp_path, environ={}), planning.HostFacts()).env)
        assert {k: v for k, v in services[name]["environment"].items() if k.startswith(("PYTHON", "HOME"))} == single


def test_remote_engine_gets_no_bind_mount(cfg):
    for service in compose.plan_override(cfg, {}, None)["services"].values():
        assert "volumes" not in service


def test_a_service_the_compose_file_lacks_is_named_with_a_suggestion(cfg):
    err = compose.missing_services(cfg, ["webb", "api", "db"], "docker-compose.yml")
    assert err.message == "devbox.yml: compose.services.web: docker-compose.yml has no service 'web'"
    assert err.hint == "did you mean 'webb'? its services: api, db, webb"
    assert compose.missing_services(cfg, ["web", "api"], "docker-compose.yml") is None


# -- splitting a batch per service ---------------------------------------------------------------


@pytest.mark.parametrize("paths, rel, expected", [
    (["services/web"], "services/web/app.py", True),
    (["services/web"], "services/web", True),
    (["services/web"], "services/webhooks/x.py", False),
    (["."], "anything/at/all.py", True),
    ([""], "anything/at/all.py", True),
    (["services/web/"], "services/web/app.py", True),
])
def test_covers(paths, rel, expected):
    assert covers(paths, rel) is expected


def test_split_sends_each_change_to_the_services_that_watch_it(cfg):
    union = compose.UnionFilter(cfg)
    assert union.split(["services/web/app.py"], []) == {
        "web": (filters.RELOAD, ["services/web/app.py"], [])}
    assert union.split([], ["services/api/old.py"]) == {"api": (filters.RELOAD, [], ["services/api/old.py"])}
    shared = union.split(["services/common/http.py"], [])
    assert sorted(shared) == ["api", "web"]
    assert union.split(["docs/index.html", "services/web/__pycache__/app.cpython-311.pyc"], []) == {}


def test_split_classifies_with_each_services_own_rules(cfg):
    union = compose.UnionFilter(cfg)
    assert union.split(["services/api/static/site.css"], []) == {
        "api": (filters.SYNC, ["services/api/static/site.css"], [])}
    assert union.classify_batch(["services/api/static/site.css", "services/web/app.py"]) == filters.RELOAD
    assert union(None, str(cfg.root / "services/web/app.py"))
    assert not union(None, str(cfg.root / "docs/index.html"))


# -- compose's errors and the CLI choice ---------------------------------------------------------


def test_compose_message_is_one_line_without_noise():
    output = ("ERROR: The Compose file './docker-compose.yml' is invalid because:\n"
              "Unsupported config option for services.web: 'imag'\n\n")
    assert compose.compose_message(output) == (
        "The Compose file './docker-compose.yml' is invalid because: Unsupported config option for services.web: 'imag'")


def _tool(directory: Path, name: str, status: int) -> None:
    path = directory / name
    path.write_text(f"#!/bin/sh\nexit {status}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_cli_prefers_the_plugin_then_v1(tmp_path):
    with_plugin, v1_only = tmp_path / "a", tmp_path / "b"
    with_plugin.mkdir(), v1_only.mkdir()
    _tool(with_plugin, "docker", 0)
    _tool(with_plugin, "docker-compose", 0)
    _tool(v1_only, "docker", 1)  # a docker CLI without the compose plugin
    _tool(v1_only, "docker-compose", 0)
    assert compose.find_cli({"PATH": str(with_plugin)}) == (str(with_plugin / "docker"), "compose")
    assert compose.find_cli({"PATH": str(v1_only)}) == (str(v1_only / "docker-compose"),)
    assert compose.find_cli({"PATH": str(v1_only), "DEVBOX_COMPOSE": "docker-compose --verbose"}) == (
        "docker-compose", "--verbose")


def test_no_compose_cli_says_how_to_get_one(tmp_path):
    with pytest.raises(ComposeError) as info:
        compose.find_cli({"PATH": str(tmp_path)})
    assert "neither the `docker compose` plugin nor `docker-compose` is installed" in info.value.message
    assert "apt-get install docker-compose" in info.value.hint
    assert "\n" not in str(info.value)


def test_state_dir_ignores_itself(tmp_path):
    target = tmp_path / compose.STATE_DIR / "compose.shop.yml"
    paths.write_state_file(target, "services: {}\n")
    assert target.read_text() == "services: {}\n"
    assert (tmp_path / compose.STATE_DIR / ".gitignore").read_text().splitlines()[-1] == "*"
    assert filters.PathFilter(tmp_path).is_ignored(target)
    before = os.stat(target).st_mtime_ns
    paths.write_state_file(target, "services: {}\n")
    assert os.stat(target).st_mtime_ns == before


# -- a remote engine: create, copy the supervisor in, start ----------------------------------------


class FakeContainer:
    def __init__(self, service):
        self.labels = {compose.COMPOSE_SERVICE: service, compose.COMPOSE_PROJECT: "shop"}
        self.archives = []
        self.id = service
        self.attrs = {"State": {"StartedAt": "2026-12-01T00:00:00Z"}}

    def put_archive(self, path, data):
        self.archives.append((path, len(data)))


def test_remote_engine_gets_the_supervisor_copied_in_before_the_start(cfg):
    calls = []

    class FakeCLI:
        def run(self, *args, **kwargs):
            calls.append(args)

    web, api, docs = FakeContainer("web"), FakeContainer("api"), FakeContainer("docs")
    session = compose.ComposeSession(cfg, connect=lambda: None)
    session._engine = type("Engine", (), {"remote": True})()
    session._cli = FakeCLI()
    session.by_service = lambda all=True: {"web": [web], "api": [api], "docs": [docs]}
    session.containers = lambda all=True: [web, api, docs]
    session._compose_up([], build=True)
    assert calls == [("up", "--no-start", "--build"), ("up", "-d")]
    assert web.archives and api.archives and web.archives[0][0] == "/"
    assert docs.archives == []  # not supervised: left as compose made it
