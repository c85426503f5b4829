"""Bad input through the real `devbox` command: one line on stderr, exit 1, nothing touched."""

import subprocess
import sys

import pytest

DEVBOX = [sys.executable, "-m", "devbox"]


def run(cwd, *args):
    return subprocess.run(DEVBOX + list(args), cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("text, expected", [
    ("app: app:app\nport: 8000\n", "devbox.yml:2: unknown key 'port' (did you mean 'ports'?)"),
    ("app: app:app\nports: ['80a']\n", "devbox.yml:2:"),
    ("app: app:app\nwatch: {debounce_ms: fast}\n", "devbox.yml:2:"),
    ("app: [app\n", "devbox.yml:"),
])
def test_bad_config_is_one_line_naming_file_and_line(tmp_path, text, expected):
    (tmp_path / "devbox.yml").write_text(text)
    result = run(tmp_path, "up", "-d")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("devbox: ") and expected in lines[0]
    assert (tmp_path / "devbox.yml").read_text() == text


def test_missing_config_says_run_init(tmp_path):
    result = run(tmp_path, "status")
    assert result.returncode == 1
    assert "devbox init" in result.stderr


def test_usage_error_exits_2(tmp_path):
    assert run(tmp_path, "frobnicate").returncode == 2


def test_version(tmp_path):
    result = run(tmp_path, "--version")
    assert result.returncode == 0 and result.stdout.startswith("devbox ")


def test_init_writes_files_and_never_overwrites(tmp_path):
    (tmp_path / "main.py").write_text("application = object()\n")
    result = run(tmp_path, "init")
    assert result.returncode == 0, result.stderr
    assert "app: main:application" in (tmp_path / "devbox.yml").read_text()
    assert (tmp_path / "docker" / "Dockerfile").exists()
    (tmp_path / "devbox.yml").write_text("mine\n")
    again = run(tmp_path, "init")
    assert again.returncode == 1 and "--force" in again.stderr
    assert (tmp_path / "devbox.yml").read_text() == "mine\n"
    assert run(tmp_path, "init", "--force").returncode == 0


def test_repo_dockerfile_is_the_init_template():
    from pathlib import Path

    from devbox import scaffold

    repo = Path(__file__).resolve().parents[2]
    assert (repo / "docker" / "Dockerfile").read_text() == scaffold.TEMPLATE.read_text()


def test_an_engine_lost_mid_command_is_one_line(tmp_path, monkeypatch, capsys):
    """A real client against a socket that is gone raises what a vanished engine raises."""
    import docker

    from devbox import cli

    def lose_engine(args, console):
        docker.DockerClient(base_url=f"unix://{tmp_path}/gone.sock").containers.list()

    monkeypatch.setattr(cli, "cmd_status", lose_engine)
    assert cli.main(["status"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("devbox: lost the Docker engine"), err
