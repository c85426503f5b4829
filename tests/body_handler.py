"""The tests' small HTTP servers answer GET with a handler's `body()`: this module, imported by
in-process servers, and inlined as source (BODY_HANDLER) at the top of the commands the
supervisor tests run, which then import nothing of the tests'."""

import http.server
import inspect


class BodyHandler(http.server.BaseHTTPRequestHandler):
    def body(self) -> bytes:
        return b"hello"

    def do_GET(self):
        body = self.body()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


BODY_HANDLER = "import http.server\n\n" + inspect.getsource(BodyHandler) + "\n"
