"""The status file: the supervisor's state as JSON, for `devbox status` (docker exec cat)."""

import json
import os


def write_status(path, status):
    """Replace the file atomically (write a temp file, rename): a reader never sees half of it."""
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w") as f:
        json.dump(status, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def read_status(path):
    with open(path) as f:
        return json.load(f)
