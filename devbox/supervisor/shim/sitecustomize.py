"""Run at start by every Python of a command child when the supervisor holds the socket (the
shim directory is first on its PYTHONPATH): a socketserver-based server that binds the app's
port (Django's runserver, http.server, wsgiref, werkzeug without its variables, Bottle's default
server) serves on the supervisor's socket, fd 3, instead: a reload then never refuses a
connection. Other ports bind as usual. The sitecustomize this one shadows (the project's or the
system's) is imported after it.

protocol.py is loaded by its path under a private name: importing `devbox` here would shadow a
project's own `devbox` package. Standard library only.
"""

import os
import sys


def _protocol():
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "protocol.py")
    spec = importlib.util.spec_from_file_location("_devbox_shim_protocol", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _patch(fd):
    import socket
    import socketserver

    try:
        with socket.socket(fileno=os.dup(fd)) as shared:
            shared_port = shared.getsockname()[1]
    except OSError:
        return  # no socket on that fd (closed by the program that started us)
    bind, activate = socketserver.TCPServer.server_bind, socketserver.TCPServer.server_activate

    def server_bind(self):
        if self.server_address[1] != shared_port:
            return bind(self)
        self.socket.close()
        self.socket = socket.socket(fileno=os.dup(fd))  # non-blocking: accept copes
        self.socket.set_inheritable(False)
        self.server_address = self.socket.getsockname()
        self._devbox_shared = True
        return None

    def server_activate(self):
        if not getattr(self, "_devbox_shared", False):
            activate(self)

    socketserver.TCPServer.server_bind = server_bind
    socketserver.TCPServer.server_activate = server_activate


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
    protocol = _protocol()
    fd = os.environ.get(protocol.ENV_LISTEN_FD)
    if fd:
        _patch(int(fd))


_main()
_chain()
