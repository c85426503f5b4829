"""Copy mode's fallback removal, inside the container:
`protocol.program_argv(REMOVE_MODULE, [WORKDIR, REL...])`.

Used by devbox/sync.py when the receiver cannot run. Removes each workdir-relative path without
following a symlinked parent (a link synced from the host may point anywhere in the container);
a path under one is left alone. Exit status 1 when a file could not be removed.
"""

import os
import shutil
import sys


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    root, failed = argv[0], 0
    for rel in argv[1:]:
        if not remove(root, rel):
            failed = 1
    return failed


def remove(root, rel):
    """Remove `root/rel` unless a parent on the way is a symlink or not a directory; False when
    a file was there and could not be removed."""
    path, parts = root, rel.split("/")
    for part in parts[:-1]:
        path = os.path.join(path, part)
        if os.path.islink(path) or not os.path.isdir(path):
            return True
    path = os.path.join(path, parts[-1])
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        try:
            os.unlink(path)
        except OSError:
            return False
    return True


if __name__ == "__main__":
    sys.exit(main())
