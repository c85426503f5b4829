"""devbox.manifest: the container-side script run for real (with this python3, on a real tree
standing for the container's workdir) against the host's manifest of the same files."""

import os
import shutil
import subprocess
import sys

from devbox import filters, manifest


def listed(workdir):
    out = subprocess.run([sys.executable, "-I", "-S", "-c", manifest.SCRIPT, str(workdir), *manifest.PRUNED],
                         capture_output=True, check=True).stdout
    return manifest.parse(out)


def tree(root):
    root.mkdir()
    (root / "app.py").write_text("v1")
    (root / "pkg").mkdir()
    (root / "pkg" / "m.py").write_text("m")
    (root / "a b\nc.py").write_text("odd")
    with open(os.fsencode(str(root)) + b"/bad\xffname.py", "wb") as f:
        f.write(b"x")
    os.symlink("/etc", root / "etc-link")  # listed as a link, never followed
    os.symlink("..", root / "pkg" / "loop")
    return root


def test_the_container_script_and_the_host_agree_on_an_identical_tree(tmp_path):
    host = tree(tmp_path / "host")
    container = tmp_path / "container"
    shutil.copytree(host, container, symlinks=True)
    (container / "__pycache__").mkdir()
    (container / "__pycache__" / "app.pyc").write_bytes(b"compiled")  # pruned: never listed
    rules = filters.PathFilter(host)
    mine = manifest.host_manifest(host, rules.walk())
    theirs = listed(container)
    assert mine == theirs
    assert theirs["etc-link"] == "symlink:/etc" and os.fsdecode(b"bad\xffname.py") in theirs
    assert manifest.compare(mine, theirs, rules.is_ignored).changed == []


def test_the_difference_is_what_changed_and_what_only_the_container_has_unless_ignored(tmp_path):
    host = tree(tmp_path / "host")
    container = tmp_path / "container"
    shutil.copytree(host, container, symlinks=True)
    (host / "app.py").write_text("v2")
    (host / "new.py").write_text("new")
    (host / "pkg" / "m.py").unlink()
    (container / "app.db").write_text("the app's")  # not on the host: deleted...
    (container / "debug.log").write_text("ignored")  # ...unless the host's rules ignore it
    (host / ".gitignore").write_text("*.log\n")
    shutil.copy(host / ".gitignore", container / ".gitignore")
    rules = filters.PathFilter(host)
    diff = manifest.compare(manifest.host_manifest(host, rules.walk()), listed(container), rules.is_ignored)
    assert diff.changed == ["app.py", "new.py"]
    assert diff.deleted == ["app.db", "pkg/m.py"]
