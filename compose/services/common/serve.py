"""Serve a WSGI app with the standard library: `python3 -m common.serve MOD:APP --port 8000`, or
`--fd 3` to serve on a listening socket inherited from a supervisor (devbox's command mode)."""

import argparse
import importlib
import os
import signal
import socket
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer


class Server(ThreadingMixIn, WSGIServer):
    # Non-daemon request threads that server_close() joins: a stop lets in-flight requests
    # finish instead of cutting a response off after its status line.
    daemon_threads = False
    block_on_close = True

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
    # SIGTERM (a reload, or `docker stop`; as PID 1 Python would ignore it) stops accepting and
    # lets the requests in flight finish. shutdown() must not run on the serving thread.
    def stop(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"serving {args.app} on port {server.server_port} (pid {os.getpid()})", flush=True)
    server.serve_forever(poll_interval=0.05)
    server.server_close()


if __name__ == "__main__":
    main()
