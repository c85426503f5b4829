"""Copy mode without an engine: path validation, the archives it builds, the container's user."""

import os
import tarfile

import pytest

from devbox import filters
from devbox.sync import (Owner, SyncError, build_archive, clean_relpath, clean_workdir, inside, parse_user,
                         plan_batch)


def members(archive):
    with tarfile.open(fileobj=archive) as tar:
        return {m.name: (m, tar.extractfile(m).read() if m.isfile() else None) for m in tar.getmembers()}


@pytest.mark.parametrize("rel", ["app.py", "pkg/mod.py", "a b/c.py", "..hidden", "x..y/z", ".env"])
def test_clean_relpath_accepts_project_paths(rel):
    assert clean_relpath(rel) == rel


@pytest.mark.parametrize("rel", ["", "/etc/passwd", "../outside", "pkg/../../x", "a/./b", "a//b", "a/",
                                 "..", ".", "a/..", "a\0b", "C:/x"])
def test_clean_relpath_refuses_escapes_and_odd_paths(rel):
    with pytest.raises(SyncError):
        clean_relpath(rel)


@pytest.mark.parametrize("workdir, prefix", [("/app", "app"), ("/home/me/src", "home/me/src")])
def test_clean_workdir(workdir, prefix):
    assert clean_workdir(workdir) == prefix


@pytest.mark.parametrize("workdir", ["/", "app", "/app/", "/app/../etc", "//app", "/a/./b"])
def test_clean_workdir_refuses(workdir):
    with pytest.raises(SyncError):
        clean_workdir(workdir)


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "proj"
    (root / "pkg" / "sub").mkdir(parents=True)
    (root / "app.py").write_text("APP")
    (root / "pkg" / "sub" / "deep.py").write_text("DEEP")
    (root / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(root / "run.sh", 0o750)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("SECRET")
    os.symlink(outside / "secret.txt", root / "abs-link")
    os.symlink("../outside/secret.txt", root / "rel-link")
    os.symlink(outside, root / "dir-link")
    os.symlink("app.py", root / "inner-link")
    os.mkfifo(root / "fifo")
    return root


def test_archive_names_modes_owner_and_parents_first(tree):
    archive, stats, skipped = build_archive(tree, ["app.py", "pkg/sub/deep.py", "run.sh"], "/srv/app",
                                            Owner(1000, 1001), with_workdir=True)
    got = members(archive)
    assert list(got) == ["srv/app", "srv/app/app.py", "srv/app/pkg", "srv/app/pkg/sub",
                         "srv/app/pkg/sub/deep.py", "srv/app/run.sh"]
    assert got["srv/app/pkg/sub/deep.py"][1] == b"DEEP"
    assert got["srv/app/run.sh"][0].mode == 0o750
    assert got["srv/app"][0].isdir() and got["srv/app/pkg"][0].isdir()
    assert {(m.uid, m.gid) for m, _ in got.values()} == {(1000, 1001)}
    assert (stats.files, stats.bytes, skipped) == (3, 3 + 4 + 10, [])


def test_symlinks_are_links_and_outside_content_never_enters(tree):
    names = ["abs-link", "rel-link", "dir-link", "inner-link", "dir-link/secret.txt", "fifo", "gone.py"]
    archive, stats, skipped = build_archive(tree, names, "/app")
    got = members(archive)
    assert {n: m.linkname for n, (m, _) in got.items()} == {
        "app/abs-link": str(tree.parent / "outside" / "secret.txt"),
        "app/rel-link": "../outside/secret.txt",
        "app/dir-link": str(tree.parent / "outside"),
        "app/inner-link": "app.py",
    }
    assert all(m.issym() for m, _ in got.values())
    assert skipped == ["dir-link/secret.txt", "fifo", "gone.py"]
    assert stats.bytes == 0


def test_unsafe_path_refused_before_archiving(tree):
    with pytest.raises(SyncError, match="inside the project"):
        build_archive(tree, ["app.py", "../outside/secret.txt"], "/app")


def test_inside_rejects_symlinked_parents(tree):
    assert inside(tree, "pkg/sub/deep.py")
    assert not inside(tree, "dir-link/secret.txt")
    assert not inside(tree, "app.py/x")


def test_plan_batch_decides_by_what_is_on_disk(tree):
    (tree / "new").mkdir()
    (tree / "new" / "one.py").write_text("1")
    (tree / "new" / "__pycache__").mkdir()
    (tree / "new" / "__pycache__" / "one.pyc").write_text("c")
    send, remove = plan_batch(tree, changed=["app.py", "vanished.py", "new"],
                              deleted=["old", "old/a.py", "app.py", "dir-link/secret.txt"],
                              path_filter=filters.PathFilter(tree))
    assert send == ["app.py", "new/one.py", "new"]
    assert remove == ["dir-link/secret.txt", "old", "vanished.py"]
    # `rm -rf gone` reported as its files only: the directory goes too.
    assert plan_batch(tree, changed=[], deleted=["gone/a/x.py", "gone/b.py", "pkg/sub/old.py"]) == \
        ([], ["gone", "pkg/sub/old.py"])


def test_plan_batch_refuses_escapes(tree):
    with pytest.raises(SyncError):
        plan_batch(tree, changed=[], deleted=["../outside/secret.txt"])


PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\nweb:x:33:33::/var/www:/bin/sh\n"
GROUP = "root:x:0:\nstaff:x:50:\napp:x:1000:\n"


@pytest.mark.parametrize("user, owner", [
    (None, Owner(0, 0)), ("", Owner(0, 0)), ("1000", Owner(1000, 1000)), ("4242", Owner(4242, 0)),
    ("4242:7", Owner(4242, 7)), ("app", Owner(1000, 1000)), ("web:staff", Owner(33, 50)), ("33:app", Owner(33, 1000)),
])
def test_parse_user_like_docker(user, owner):
    assert parse_user(user, PASSWD, GROUP) == owner


@pytest.mark.parametrize("user", ["nobody-here", "app:nogroup"])
def test_parse_user_unknown_names_are_errors(user):
    with pytest.raises(SyncError):
        parse_user(user, PASSWD, GROUP)
