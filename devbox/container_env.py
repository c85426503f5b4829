"""The environment every supervised container gets unless devbox.yml (or the compose file) sets it.

One rule for single containers and compose services alike:
- PYTHONUNBUFFERED: the supervisor's events and the app's lines arrive as they are written.
- PYTHONPYCACHEPREFIX: bytecode caches stay out of the user's (often bind-mounted) tree.
- HOME: exists for a uid with no passwd entry (the host uid on a bind mount).
- PYTHONDONTWRITEBYTECODE for a `command:`: a .pyc is trusted when the source's mtime (whole
  seconds) and size match, so two same-size saves in one second would serve the first one's
  code after a reload. The app child guards itself (supervisor.bytecode); a command imports with
  plain Python, so there no bytecode is written at all. Caches already there are read: the
  command's shim (supervisor/shim/sitecustomize.py) keeps PYTHONPYCACHEPREFIX to the project's
  modules, so the standard library's and site-packages' own caches are used where they lie.
"""

from __future__ import annotations

from typing import Dict

from devbox.supervisor import protocol

PYCACHE_PREFIX = "/tmp/devbox-pycache"
HOME = "/tmp"


def default_env(app: bool) -> Dict[str, str]:
    """The defaults for a container running `app:` (True) or a `command:` (False)."""
    env = {protocol.ENV_UNBUFFERED: "1", "PYTHONPYCACHEPREFIX": PYCACHE_PREFIX, "HOME": HOME}
    if not app:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env
