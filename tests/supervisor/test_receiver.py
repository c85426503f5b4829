"""The copy-mode receiver and remove programs as real processes on this machine (no Docker), run
from this checkout with the command line the host gives the container: the receiver applies
the archives devbox builds, and neither writes nor removes outside the workdir or through a
symlink."""

import os
import subprocess
import sys

import pytest

from devbox.supervisor import protocol
from devbox.supervisor.spawn import PACKAGE_ROOT
from devbox.sync import Owner, build_archive

TAR, RM = protocol.RECEIVER_TAR, protocol.RECEIVER_RM


def program(module, args):
    return protocol.program_argv(module, args, root=PACKAGE_ROOT, python=sys.executable)


class Receiver:
    def __init__(self, workdir):
        self.process = subprocess.Popen(program(protocol.RECEIVER_MODULE, [workdir]),
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def request(self, op: bytes, payload: bytes) -> str:
        self.process.stdin.write(protocol.receiver_request(op, payload))
        self.process.stdin.flush()
        return self.process.stdout.readline().decode().strip()

    def close(self):
        self.process.stdin.close()
        assert self.process.wait(10) == 0


@pytest.fixture
def setup(tmp_path):
    host, workdir = tmp_path / "host", tmp_path / "container" / "app"
    host.mkdir()
    workdir.mkdir(parents=True)
    receiver = Receiver(workdir)
    yield host, workdir, receiver
    receiver.close()


def tar(host, workdir, rels):
    archive, _, _ = build_archive(host, rels, str(workdir), Owner(os.getuid(), os.getgid()))
    return archive.read()


def test_files_dirs_links_and_modes_arrive(setup):
    host, workdir, receiver = setup
    (host / "pkg").mkdir()
    (host / "pkg" / "mod.py").write_text("X = 1\n")
    (host / "run.sh").write_text("#!/bin/sh\n")
    (host / "run.sh").chmod(0o750)
    os.symlink("pkg/mod.py", host / "link")
    assert receiver.request(TAR, tar(host, workdir, ["pkg/mod.py", "run.sh", "link"])) == "ok"
    assert (workdir / "pkg" / "mod.py").read_text() == "X = 1\n"
    assert (workdir / "run.sh").stat().st_mode & 0o777 == 0o750
    assert os.readlink(workdir / "link") == "pkg/mod.py"
    assert (workdir / "run.sh").stat().st_mtime == (host / "run.sh").stat().st_mtime
    assert not [p for p in workdir.rglob(".devbox-*")]  # no temporary file left behind


def test_a_synced_link_is_replaced_never_written_through(setup, tmp_path):
    host, workdir, receiver = setup
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched\n")
    os.symlink(victim, workdir / "config.py")  # what a link synced earlier left in the container
    os.symlink(tmp_path, workdir / "pkg")
    (host / "config.py").write_text("NEW\n")
    assert receiver.request(TAR, tar(host, workdir, ["config.py"])) == "ok"
    assert not (workdir / "config.py").is_symlink() and (workdir / "config.py").read_text() == "NEW\n"
    assert victim.read_text() == "untouched\n"
    # A file under a directory that is a symlink in the container is refused, not followed.
    (host / "pkg").mkdir()
    (host / "pkg" / "victim.txt").write_text("through the link\n")
    archive = tar(host, workdir, ["pkg/victim.txt"])
    os.remove(workdir / "pkg")
    os.symlink(tmp_path, workdir / "pkg")
    # The archive holds the directory entry first, which replaces the link by a real directory.
    assert receiver.request(TAR, archive) == "ok"
    assert victim.read_text() == "untouched\n" and (workdir / "pkg" / "victim.txt").read_text() == "through the link\n"


def test_names_outside_the_workdir_are_refused(setup, tmp_path):
    import io
    import tarfile

    host, workdir, receiver = setup
    for name in [str(tmp_path / "evil.txt").lstrip("/"), str(workdir).lstrip("/") + "/../evil.txt"]:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            info = tarfile.TarInfo(name)
            info.size = 4
            archive.addfile(info, io.BytesIO(b"evil"))
        reply = receiver.request(TAR, buffer.getvalue())
        assert reply.startswith("error ValueError: outside the workdir"), reply
    assert not (tmp_path / "evil.txt").exists() and not (workdir.parent / "evil.txt").exists()


def test_removals(setup, tmp_path):
    host, workdir, receiver = setup
    (workdir / "pkg" / "sub").mkdir(parents=True)
    (workdir / "pkg" / "sub" / "a.py").write_text("a")
    (workdir / "b.py").write_text("b")
    os.symlink(tmp_path, workdir / "out")
    (tmp_path / "keep.txt").write_text("keep")
    assert receiver.request(RM, b"pkg\0b.py\0missing.py") == "ok"
    assert sorted(p.name for p in workdir.iterdir()) == ["out"]
    assert receiver.request(RM, b"out/keep.txt").startswith("error ValueError: parent is not a directory")
    assert (tmp_path / "keep.txt").exists()
    assert receiver.request(RM, b"out") == "ok"
    assert not os.path.lexists(workdir / "out") and (tmp_path / "keep.txt").exists()
    assert receiver.request(RM, b"../x").startswith("error ValueError: outside the workdir")


def test_the_remove_program_never_follows_a_symlinked_parent(tmp_path):
    workdir = tmp_path / "app"
    (workdir / "pkg" / "sub").mkdir(parents=True)
    (workdir / "pkg" / "sub" / "a.py").write_text("a")
    (workdir / "b.py").write_text("b")
    os.symlink(tmp_path, workdir / "out")
    (tmp_path / "keep.txt").write_text("keep")
    result = subprocess.run(program(protocol.REMOVE_MODULE,
                                    [workdir, "pkg", "b.py", "missing.py", "out/keep.txt"]),
                            capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in workdir.iterdir()) == ["out"]
    assert (tmp_path / "keep.txt").exists()
    result = subprocess.run(program(protocol.REMOVE_MODULE, [workdir, "out"]), timeout=30)
    assert result.returncode == 0
    assert not os.path.lexists(workdir / "out") and (tmp_path / "keep.txt").exists()
