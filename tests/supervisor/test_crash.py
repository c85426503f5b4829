"""A broken app is shown, not respawned in a loop: the error page until the next reload."""

import http.client
import signal
import sys

from devbox.supervisor import protocol
from tests.supervisor.conftest import APPS, http_get, write_app


def test_syntax_error_page_then_fix_and_sighup(tmp_path, supervisor):
    write_app(tmp_path, "v1")
    sup = supervisor(["--app", "app:app", "--port", "0"])
    sup.wait_event(protocol.EVENT_READY, generation=1)

    (tmp_path / "app.py").write_text("BODY = 'v2'\ndef app(environ, start_response:\n")
    sup.send(signal.SIGHUP)
    crashed = sup.wait_event(protocol.EVENT_CRASHED, generation=2)
    assert crashed["status"] == protocol.STATUS_STARTUP
    assert crashed["message"].startswith("app.py:2: SyntaxError: ")
    status, page = http_get(sup.port)
    assert status == 500
    assert "SyntaxError" in page and "app.py" in page and "line 2" in page
    assert "devbox will reload when you save a file" in page
    assert sup.status()["state"] == protocol.STATE_CRASHED

    write_app(tmp_path, "v3")
    sup.reload()
    assert http_get(sup.port) == (200, "v3")
    for _ in range(20):  # time passes, traffic flows: still nothing respawns on its own
        assert http_get(sup.port) == (200, "v3")
    assert [f["generation"] for _, f in sup.events(protocol.EVENT_RELOADING)] == [2, 3]
    assert [f["generation"] for _, f in sup.events(protocol.EVENT_READY)] == [1, 3]
    assert sup.status()["generation"] == 3


def test_import_error_at_start_shows_the_project_frame(tmp_path, supervisor):
    (tmp_path / "helpers.py").write_text("def setup():\n    raise RuntimeError('no config')\n")
    (tmp_path / "app.py").write_text("import helpers\nhelpers.setup()\n")
    sup = supervisor(["--app", "app:app", "--port", "0"])
    crashed = sup.wait_event(protocol.EVENT_CRASHED, generation=1)
    assert crashed["message"] == "helpers.py:2: RuntimeError: no config"
    status, page = http_get(sup.port)
    assert status == 500 and "RuntimeError: no config" in page
    assert "Your code" in page and "app.py" in page


def test_error_page_reads_a_posted_body_before_answering(tmp_path, supervisor):
    (tmp_path / "app.py").write_text("raise ImportError('nope')\n")
    sup = supervisor(["--app", "app:app", "--port", "0"])
    sup.wait_event(protocol.EVENT_CRASHED, generation=1)
    conn = http.client.HTTPConnection("127.0.0.1", sup.port, timeout=5)
    try:
        conn.request("POST", "/form", body=b"a=1&" * 20000,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        response = conn.getresponse()
        assert response.status == 500 and b"ImportError" in response.read()
    finally:
        conn.close()


def test_request_exception_shows_traceback_and_app_keeps_serving(tmp_path, supervisor):
    (tmp_path / "app.py").write_text(
        "def app(environ, start_response):\n"
        "    if environ['PATH_INFO'] == '/boom':\n"
        "        raise ValueError('bad input')\n"
        "    start_response('200 OK', [])\n"
        "    return [b'fine']\n")
    sup = supervisor(["--app", "app:app", "--port", "0"])
    sup.wait_event(protocol.EVENT_READY, generation=1)
    status, page = http_get(sup.port, "/boom")
    assert status == 500 and "ValueError: bad input" in page and "app.py" in page
    assert http_get(sup.port) == (200, "fine")


def test_command_exit_is_not_respawned_and_gets_an_error_page(tmp_path, supervisor):
    script = tmp_path / "server.py"
    script.write_text("import sys\nsys.exit(4)\n")
    sup = supervisor(["--port", "0", "--", sys.executable, str(script)])
    crashed = sup.wait_event(protocol.EVENT_CRASHED, generation=1)
    assert crashed["status"] == 4
    assert "exited with status 4" in crashed["message"]
    status, page = http_get(sup.port)
    assert status == 500 and "exited with status 4" in page
    assert "devbox will reload when you save a file" in page

    script.write_text((APPS / "fd3_server.py").read_text())
    sup.send(signal.SIGHUP)
    sup.wait_event(protocol.EVENT_READY, generation=2)
    assert http_get(sup.port)[0] == 200
    assert len(sup.events(protocol.EVENT_CRASHED)) == 1


def test_missing_command_is_a_clear_crash(tmp_path, supervisor):
    sup = supervisor(["--port", "0", "--", "devbox-no-such-command-here"])
    crashed = sup.wait_event(protocol.EVENT_CRASHED, generation=1)
    assert crashed["status"] == 127
    assert crashed["message"] == ("cannot run devbox-no-such-command-here: "
                                  "No such file or directory")
    assert http_get(sup.port)[0] == 500
