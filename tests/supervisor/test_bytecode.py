"""bytecode.avoid_racy_bytecode, run twice (the warm template, then each child forked from it),
installs its loader once and keeps the finders cached the first time."""

import subprocess
import sys

from devbox.supervisor import spawn

CHECK = """
import sys
from devbox.supervisor import bytecode
assert bytecode.avoid_racy_bytecode()
import json  # a finder per sys.path entry is cached on the way
cached = dict(sys.path_importer_cache)
hooks = list(sys.path_hooks)
assert bytecode.avoid_racy_bytecode()
assert sys.path_hooks == hooks, "installed twice"
assert all(sys.path_importer_cache.get(k) is v for k, v in cached.items()), "caches cleared"
print("ok")
"""


def test_a_second_install_keeps_the_loader_and_the_import_caches():
    result = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, %r)\n%s"
                             % (spawn.PACKAGE_ROOT, CHECK)],
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "ok", result.stderr
