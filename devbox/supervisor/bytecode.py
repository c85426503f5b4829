"""Keep bytecode caches from hiding fresh edits.

A .pyc is trusted when the source's mtime (whole seconds) and size match. Two saves of the same
size within one second (say `v1` -> `v2`) then load the first version's bytecode: the reload
serves old code. Git solves the same "racy" timestamps by not trusting entries as new as the
index; we do the same for the bytecode cache: a source modified in the last few seconds is
compiled but not cached. Older files are cached as usual, so big projects stay fast.

Where caches go (private_caches): a container runs with PYTHONPYCACHEPREFIX, so that nothing
writes caches into the bind-mounted project (`devbox exec python manage.py ...`, the app's own
subprocesses). Taken as it is, that prefix would also hide the standard library's and the
image's own caches, and every fresh container would compile them all from source before its
first response (~250 ms here, more with a framework). So devbox's own processes (supervisor,
template, app children) read every module's cache where Python put it, except the project's
and devbox's own modules, whose caches stay under the prefix as before.

Shipped caches (shipped_caches): the copy injected into a container comes with the checked-hash
caches the host compiled (devbox/injected.py). When they are this Python's own (its cache tag,
its magic number), devbox's modules are read from them where they are, not compiled under the
prefix at every container start; else (another Python) as above.
"""

import os
import sys
import time

RACY_SECONDS = 2.0
PREFIX_ENV = "PYTHONPYCACHEPREFIX"
# The directory that holds the devbox package (the copy under /opt/devbox in a container).
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_prefix = None  # the prefix private sources cache under (None: where Python puts them)
_private = []  # directories whose sources are private (their caches go under _prefix)


def private_caches(*roots):
    """From now on only sources under devbox's package and `roots` (the project) cache under
    the configured pycache prefix; every other module's cache is read (and written) where it
    lives. Call it first thing; again to add roots. Installs avoid_racy_bytecode's loader too
    (that alone where no prefix is configured)."""
    global _prefix
    if _prefix is None:
        _prefix = sys.pycache_prefix or os.environ.get(PREFIX_ENV) or None
    if _prefix is not None:
        own = () if shipped_caches() else (PACKAGE_ROOT,)
        for root in own + roots:
            root = os.path.abspath(root).rstrip(os.sep) + os.sep
            if root not in _private:
                _private.append(root)
        sys.pycache_prefix = None
    return avoid_racy_bytecode()


def shipped_caches(package_root=PACKAGE_ROOT):
    """Whether this package came with caches this Python reads (see the module docstring): its
    bytecode module's cache beside it is hash-based, as only devbox/injected.py ships them
    (Python's own imports write timestamp-based ones), with this Python's cache tag and magic.
    Imports nothing of devbox's: the command shim loads this module by its path."""
    tag = sys.implementation.cache_tag
    if tag is None:
        return False
    import importlib.util

    cache = os.path.join(package_root, "devbox", "supervisor", "__pycache__", "bytecode.%s.pyc" % tag)
    try:
        with open(cache, "rb") as f:
            header = f.read(8)
    except OSError:
        return False
    return (len(header) == 8 and header[:4] == importlib.util.MAGIC_NUMBER
            and bool(int.from_bytes(header[4:8], "little") & 0b1))


def private_cache(bytecode_path):
    """Where the cache at `bytecode_path` (DIR/__pycache__/NAME.TAG.pyc) really lives: under the
    prefix for a private source (the layout Python's own prefix uses), else where it is."""
    if _prefix is None or not bytecode_path.endswith(".pyc"):
        return bytecode_path
    cache_dir, name = os.path.split(bytecode_path)
    source_dir, pycache = os.path.split(cache_dir)
    if pycache != "__pycache__" or not any((source_dir + os.sep).startswith(r) for r in _private):
        return bytecode_path
    return os.path.join(_prefix, source_dir.lstrip(os.sep), name)


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
        def get_data(self, path):
            return super().get_data(private_cache(path))

        def _cache_bytecode(self, source_path, bytecode_path, data):
            try:
                mtime = os.stat(source_path).st_mtime
            except OSError:
                return None
            if time.time() - mtime < racy_seconds:
                return None
            return super()._cache_bytecode(source_path, private_cache(bytecode_path), data)

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
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    done = True
    for name in sorted(os.listdir(here)):
        if not name.endswith(".py"):
            continue
        source = os.path.join(here, name)
        target = private_cache(importlib.util.cache_from_source(source))
        if _current(source, target, importlib.util.MAGIC_NUMBER):
            continue  # cached already (shipped, or a kept container's second start)
        import py_compile  # only to compile: ~5 ms of imports (shutil, traceback...) otherwise

        try:
            py_compile.compile(source, cfile=target, doraise=True)
        except (OSError, py_compile.PyCompileError):
            done = False
    return done


def _current(source, target, magic):
    """Whether the cache `target` is the one Python would accept for `source` (its header's
    magic, then mtime and size, or for a hash-based cache the source's hash; what compileall
    checks)."""
    try:
        with open(target, "rb") as f:
            header = f.read(16)
        if len(header) < 16 or header[:4] != magic:
            return False
        flags = int.from_bytes(header[4:8], "little")
        if flags & 0b1:  # hash-based (PEP 552): shipped by the host
            import importlib.util

            with open(source, "rb") as f:
                return header[8:16] == importlib.util.source_hash(f.read())
        st = os.stat(source)
    except OSError:
        return False
    return (flags == 0 and int.from_bytes(header[8:12], "little") == int(st.st_mtime) & 0xFFFFFFFF
            and int.from_bytes(header[12:16], "little") == st.st_size & 0xFFFFFFFF)
