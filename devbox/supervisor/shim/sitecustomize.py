"""Run at start by every Python of a command child (the shim directory is first on its
PYTHONPATH):

- bytecode.py: under the container's PYTHONPYCACHEPREFIX, Python would look for every module's
  cache under the prefix, where there is none, and compile the standard library, site-packages
  and the framework from source at every start (Django's runserver: ~0.3 s). Only the project's
  modules (DEVBOX_PROJECT_DIR) keep their caches under the prefix; every other module reads its
  cache where it lies, as devbox's own app children do.

When the supervisor holds the socket:

- adopt.py: a Python socket that binds the app's port (Django's runserver, wsgiref, Bottle's
  own reloader, http.server, uvicorn or gunicorn told to bind it) serves on the supervisor's
  socket, fd 3, instead: a reload then never refuses a connection. Other ports bind as usual.
- graceful.py: socketserver servers stop gracefully (SIGTERM, Bottle's interrupt_main): they
  accept nothing more, finish their in-flight requests and close idle keep-alive connections
  before the signal does what it would have done.

The sitecustomize this one shadows (the project's or the system's) is imported after it.

Our modules are loaded by their path under private names: importing `devbox` here would shadow
a project's own `devbox` package. Standard library only.
"""

import os
import sys


def _load(path, name):
    import importlib.util

    # The injected copy ships its caches beside its sources (devbox/injected.py): read there, not
    # under the prefix, where nothing writes them then.
    prefix, tag = sys.pycache_prefix, sys.implementation.cache_tag
    folder, module_file = os.path.split(path)
    if prefix and tag and os.path.exists(os.path.join(folder, "__pycache__", "%s.%s.pyc" % (module_file[:-3], tag))):
        sys.pycache_prefix = None
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # under its private name: the one copy in this process
        spec.loader.exec_module(module)
    finally:
        sys.pycache_prefix = prefix
    return module


def _chain():
    """Import the sitecustomize we shadow, if there is one."""
    here = os.path.dirname(os.path.abspath(__file__))
    ours = sys.modules.pop("sitecustomize", None)
    saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    try:
        import sitecustomize  # noqa: F401
    except ImportError:
        sys.modules["sitecustomize"] = ours
    finally:
        sys.path[:] = saved


def _main():
    supervisor = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    protocol = _load(os.path.join(supervisor, "protocol.py"), "_devbox_shim_protocol")
    fd = os.environ.get(protocol.ENV_LISTEN_FD)
    if fd:
        adopt = _load(os.path.join(supervisor, protocol.SHIM_ADOPT_MODULE), "_devbox_shim_adopt")
        if adopt.install(int(fd)):
            graceful = _load(os.path.join(supervisor, protocol.SHIM_GRACEFUL_MODULE),
                             "_devbox_shim_graceful")
            adopt.WAKE_FD = graceful.install(protocol.SHIM_DRAIN_TIMEOUT,
                                             protocol.SHIM_ASYNC_STOP_DELAY)
    project = os.environ.get(protocol.ENV_PROJECT_DIR)
    if project:
        # Last: our own modules above load from their caches under the prefix (the supervisor
        # writes them there), which private_caches stops looking in for anything but them.
        bytecode = _load(os.path.join(supervisor, protocol.SHIM_BYTECODE_MODULE),
                         "_devbox_shim_bytecode")
        bytecode.private_caches(project)


_main()
_chain()
