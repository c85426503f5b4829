"""A unix socket relayed to the real engine's, that can be cut and restored: the engine's going
away and coming back, without touching the engine the other tests share."""

import os
import socket
import threading


class SocketRelay:
    """Listens at `path`, and relays each connection to `engine` until `cut()`."""

    def __init__(self, path, engine="/var/run/docker.sock"):
        self.path, self.engine = str(path), engine
        self.conns = []
        self.sent = b""  # what clients sent upstream, to know which requests passed through
        self.server = None

    def start(self):
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(self.path)
        sock.listen(16)
        self.server = sock
        threading.Thread(target=self._accept, args=(sock,), daemon=True).start()
        return self

    def _accept(self, server):
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(self.engine)
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b, a is client), daemon=True).start()

    def _pump(self, src, dst, upstream):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if upstream:
                    self.sent += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(2)
                except OSError:
                    pass

    def cut(self):
        self.server.close()
        os.unlink(self.path)
        for conn in self.conns:
            try:
                conn.shutdown(2)
            except OSError:
                pass
        self.conns = []
