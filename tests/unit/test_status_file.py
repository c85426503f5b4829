"""The supervisor's status file read from this machine through /proc/PID/root: a tree that
stands for a container's root here, where the container may have made any path a symlink."""

import os

import pytest

from devbox.status import read_in_root


@pytest.fixture
def container_root(tmp_path):
    root = tmp_path / "root"
    (root / "tmp").mkdir(parents=True)
    (tmp_path / "host-secret.json").write_text('{"secret": 1}')
    return root


def test_a_regular_file_is_read(container_root):
    (container_root / "tmp" / "status.json").write_text('{"child_pid": 7}')
    assert read_in_root(str(container_root), "/tmp/status.json") == b'{"child_pid": 7}'


def test_a_missing_file_is_file_not_found(container_root):
    with pytest.raises(FileNotFoundError):
        read_in_root(str(container_root), "/tmp/status.json")


def test_a_link_as_the_file_is_not_followed(container_root, tmp_path):
    os.symlink(tmp_path / "host-secret.json", container_root / "tmp" / "status.json")
    with pytest.raises(OSError):
        read_in_root(str(container_root), "/tmp/status.json")


def test_a_link_as_a_directory_on_the_way_is_not_followed(container_root, tmp_path):
    os.rmdir(container_root / "tmp")
    os.symlink(tmp_path, container_root / "tmp")
    (tmp_path / "status.json").write_text('{"outside": 1}')
    with pytest.raises(OSError):
        read_in_root(str(container_root), "/tmp/status.json")


def test_a_fifo_is_refused_without_blocking(container_root):
    os.mkfifo(container_root / "tmp" / "status.json")
    with pytest.raises(OSError):
        read_in_root(str(container_root), "/tmp/status.json")
