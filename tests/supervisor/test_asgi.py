"""ASGI apps under `--app`: served by the uvicorn installed beside the app (a test extra), with
lifespan in each child, uvicorn imported once by the warm template, the overlapped handover and
a one-line error when no ASGI server can be imported."""

import threading

from devbox.supervisor import asgiserver, protocol
from tests.supervisor.conftest import http_get
from tests.waiting import wait_until

# A hand-written ASGI 3 app: lifespan events go to a log file, /slow answers after 0.6 s.
ASGI_APP = """
import asyncio, os, sys
VERSION = %(version)r
PRELOADED = "uvicorn.server" in sys.modules  # imported by the warm template before this module
LOG = %(log)r

def note(text):
    with open(LOG, "a") as f:
        f.write("%%s %%d\\n" %% (text, os.getpid()))

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                note("startup")
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                note("shutdown")
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["path"] == "/slow":
        await asyncio.sleep(0.6)
    if dict(scope["headers"]).get(b"user-agent") == b"devbox-warm-up":
        note("warm-up")
    body = ("%%s %%d %%s" %% (VERSION, os.getpid(), PRELOADED)).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})
"""


def write_asgi(root, version, log):
    (root / "app.py").write_text(ASGI_APP % {"version": version, "log": str(log)})


def lifespan_log(log):
    return [tuple(line.split()) for line in log.read_text().splitlines()] if log.exists() else []


def test_shapes_are_told_apart_as_uvicorn_does():
    async def asgi3(scope, receive, send):
        pass

    class AsgiObject:
        async def __call__(self, scope, receive, send):
            pass

    def wsgi(environ, start_response):
        pass

    def sync_wrapper(scope, receive, send):  # returns a coroutine
        return asgi3(scope, receive, send)

    assert asgiserver.is_asgi(asgi3) and asgiserver.is_asgi(AsgiObject())
    assert asgiserver.is_asgi(sync_wrapper)
    assert not asgiserver.is_asgi(wsgi) and not asgiserver.is_asgi(AsgiObject)


def test_an_asgi_app_serves_reloads_warm_and_runs_lifespan_in_each_child(tmp_path, supervisor):
    log = tmp_path / "lifespan.log"
    write_asgi(tmp_path, "v1", log)
    sup = supervisor(["--app", "app:app", "--port", "0"])
    first = sup.wait_event(protocol.EVENT_READY, generation=1)["pid"]
    status, body = http_get(sup.port)
    assert status == 200 and body.startswith("v1 %d " % first), body
    for version in ("v2", "v3"):
        write_asgi(tmp_path, version, log)
        pid = sup.reload()["pid"]
        status, body = http_get(sup.port)
        assert status == 200 and body.startswith("%s %d " % (version, pid)), body
    # The first child reported uvicorn as a dependency: the third one found it in the template.
    assert body.endswith(" True"), body
    wait_until(lambda: ("shutdown", str(first)) in lifespan_log(log), 10, message="shutdown")
    events = lifespan_log(log)
    assert events.index(("startup", str(first))) < events.index(("warm-up", str(first)))
    assert [e for e in events if e[1] == str(pid)] == [("startup", str(pid)), ("warm-up", str(pid))]
    code, _ = sup.stop()
    assert code == 0
    assert ("shutdown", str(pid)) in lifespan_log(log)


def test_an_in_flight_request_finishes_on_the_old_child_while_the_new_one_answers(tmp_path, supervisor):
    log = tmp_path / "lifespan.log"
    write_asgi(tmp_path, "v1", log)
    sup = supervisor(["--app", "app:app", "--port", "0"])
    sup.wait_event(protocol.EVENT_READY, generation=1)
    slow = {}
    thread = threading.Thread(target=lambda: slow.update(answer=http_get(sup.port, "/slow")))
    thread.start()
    wait_until(lambda: ("warm-up", str(sup.status()["child_pid"])) in lifespan_log(log), 5)
    write_asgi(tmp_path, "v2", log)
    sup.reload()
    assert http_get(sup.port)[1].startswith("v2 ")
    thread.join(10)
    assert slow["answer"][0] == 200 and slow["answer"][1].startswith("v1 "), slow


def test_without_an_asgi_server_the_error_page_says_what_to_install(tmp_path, supervisor):
    # No image without uvicorn here: a project module named uvicorn that fails to import stands
    # for the missing package (the project directory comes first on sys.path).
    (tmp_path / "uvicorn.py").write_text("raise ImportError('No module named uvicorn')\n")
    write_asgi(tmp_path, "v1", tmp_path / "lifespan.log")
    sup = supervisor(["--app", "app:app", "--port", "0"])
    crashed = sup.wait_event(protocol.EVENT_CRASHED, generation=1)
    assert crashed["message"] == asgiserver.NO_SERVER
    status, body = http_get(sup.port)
    assert status == 500 and "pip install uvicorn" in body


def test_a_failed_lifespan_startup_is_a_crash_with_the_error_page(tmp_path, supervisor):
    (tmp_path / "app.py").write_text(
        "async def app(scope, receive, send):\n"
        "    assert scope['type'] == 'lifespan'\n"
        "    await receive()\n"
        "    await send({'type': 'lifespan.startup.failed', 'message': 'no database'})\n")
    sup = supervisor(["--app", "app:app", "--port", "0"])
    crashed = sup.wait_event(protocol.EVENT_CRASHED, generation=1)
    assert "lifespan startup failed" in crashed["message"]
    assert http_get(sup.port)[0] == 500

