"""Serve a WSGI app with the standard library: `python3 -m common.serve MOD:APP --port 8000`, or
`--fd 3` to serve on a listening socket inherited from a supervisor (devbox's command mode)."""

import argparse
import importlib
import os
import signal
import socket
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer


class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def server_bind(self):
        # HTTPServer.server_bind looks the host up (getfqdn): slow where no DNS answers.
        socket.socket.bind(self.socket, self.server_address)
        self.server_address = self.socket.getsockname()
        self.server_name, self.server_port = "localhost", self.server_address[1]
        self.setup_environ()


class Handler(WSGIRequestHandler):
    timeout = 5  # an idle keep-alive connection must not hold an old process open


def load(spec):
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("app", help="module:callable")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", type=int, help="bind 0.0.0.0:PORT")
    where.add_argument("--fd", type=int, help="serve on this inherited listening socket")
    args = parser.parse_args(argv)
    # As PID 1 (plain `docker-compose up`) Python ignores SIGTERM; stop at once instead.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    app = load(args.app)
    if args.fd is not None:
        server = Server(("", 0), Handler, bind_and_activate=False)
        server.socket.close()
        server.socket = socket.socket(fileno=args.fd)
        server.server_address = server.socket.getsockname()
        server.server_name, server.server_port = "localhost", server.server_address[1]
        server.setup_environ()
    else:
        server = Server(("0.0.0.0", args.port), Handler)
    server.set_app(app)
    print(f"serving {args.app} on port {server.server_port} (pid {os.getpid()})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
