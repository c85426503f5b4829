"""Keep bytecode caches from hiding fresh edits.

A .pyc is trusted when the source's mtime (whole seconds) and size match. Two saves of the same
size within one second (say `v1` -> `v2`) then load the first version's bytecode: the reload
serves old code. Git solves the same "racy" timestamps by not trusting entries as new as the
index; we do the same for the bytecode cache: a source modified in the last few seconds is
compiled but not cached. Older files are cached as usual, so big projects stay fast.
"""

import os
import sys
import time

RACY_SECONDS = 2.0
_INSTALLED = "_devbox_fresh_source"  # marks our path hook


def avoid_racy_bytecode(racy_seconds=RACY_SECONDS):
    """Install the source loader below for every directory on sys.path. Best effort: it relies on
    importlib internals that CPython has had since 3.4; without them nothing changes."""
    try:
        from importlib import machinery

        base = machinery.SourceFileLoader
        base._cache_bytecode  # noqa: B018 - the internal hook we override
    except (ImportError, AttributeError):
        return False

    class FreshSourceLoader(base):
        def _cache_bytecode(self, source_path, bytecode_path, data):
            try:
                mtime = os.stat(source_path).st_mtime
            except OSError:
                return None
            if time.time() - mtime < racy_seconds:
                return None
            return super()._cache_bytecode(source_path, bytecode_path, data)

    loaders = [
        (machinery.ExtensionFileLoader, machinery.EXTENSION_SUFFIXES),
        (FreshSourceLoader, machinery.SOURCE_SUFFIXES),
        (machinery.SourcelessFileLoader, machinery.BYTECODE_SUFFIXES),
    ]
    hooks = sys.path_hooks
    if any(getattr(hook, _INSTALLED, False) for hook in hooks):
        # Installed already (by the warm template this child was forked from): keep the
        # finders it cached, and their directory listings, instead of scanning every directory
        # on sys.path again for the child's first imports.
        return True
    for i, hook in enumerate(hooks):
        if "FileFinder" in getattr(hook, "__qualname__", ""):
            hook = machinery.FileFinder.path_hook(*loaders)
            setattr(hook, _INSTALLED, True)
            hooks[i] = hook
            sys.path_importer_cache.clear()
            return True
    return False


def precompile_package():
    """Cache the bytecode of this package once, in the parent. Images often set
    PYTHONDONTWRITEBYTECODE, and then every child start would compile the child's modules again
    (~8 ms here); reading a cache is still allowed, so write it explicitly. Best effort."""
    import compileall

    try:
        return compileall.compile_dir(os.path.dirname(os.path.abspath(__file__)), maxlevels=0,
                                      quiet=2)
    except OSError:
        return False
