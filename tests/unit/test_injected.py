"""What devbox puts into a container under /opt/devbox: the whole supervisor package."""

import io
import tarfile

from devbox import injected


def test_the_archive_holds_every_supervisor_module_and_the_shim():
    with tarfile.open(fileobj=io.BytesIO(injected.supervisor_archive())) as tar:
        names = set(tar.getnames())
    root = injected.SUPERVISOR_ROOT.lstrip("/") + "/devbox/supervisor/"
    assert {root + p.name for p in injected.SUPERVISOR_SOURCE.glob("*.py")} <= names
    assert root + "shim/sitecustomize.py" in names  # runserver serves on fd 3 through it
    assert root + "probe.py" in names
