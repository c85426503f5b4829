"""Linux prctl() through ctypes, when there is one: the fast paths for parent death and reaping.

Everything here is best effort. Without Linux or ctypes (a minimal image may lack it) the
supervisor still works: the child then learns of the parent's death from its control socket or
the stale lockfile, and orphans are reaped by whatever init the machine has.
"""

import os

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36

_libc = None


def load():
    """Load libc now (in the parent, before any fork); False when prctl is not available."""
    global _libc
    if _libc is None:
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl  # noqa: B018 - raises AttributeError where there is no prctl
            _libc = libc
        except (ImportError, OSError, AttributeError):
            _libc = False
    return bool(_libc)


def _prctl(option, arg):
    if not load():
        return False
    return _libc.prctl(option, arg, 0, 0, 0) == 0


def set_child_subreaper():
    """Adopt orphaned descendants, so the supervisor reaps them even when it is not PID 1."""
    return _prctl(PR_SET_CHILD_SUBREAPER, 1)


def set_parent_death_signal(signum, parent_pid):
    """In a freshly forked child: get `signum` when the parent dies. If the parent already died
    between fork and here, the signal would never come, so exit now."""
    ok = _prctl(PR_SET_PDEATHSIG, int(signum))
    if ok and os.getppid() != parent_pid:
        os._exit(1)
    return ok
