"""The dashboard without Docker: its access rules (token, cookie, Host, Origin), the SSE framing,
and the real server on 127.0.0.1 answering real HTTP requests from an event bus."""

import http.client
import json
import re
import socket
import threading
from pathlib import Path

import pytest

from devbox.agent.bus import EventBus
from devbox import sse
from devbox.dashboard.access import COOKIE, Access
from devbox.dashboard.server import ActionRefused, Dashboard, asset_names, assets_digest
from tests.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]


# -- the rules ------------------------------------------------------------------------------------

def test_only_this_servers_host_names_are_accepted():
    access = Access(8123, token="t")
    assert access.host_ok("127.0.0.1:8123") and access.host_ok("localhost:8123")
    for host in (None, "", "127.0.0.1", "127.0.0.1:8124", "evil.example:8123", "127.0.0.1.nip.io:8123", "[::1]:8123"):
        assert not access.host_ok(host), host


def test_the_cookie_must_carry_the_token():
    access = Access(1, token="secret-token")
    assert access.cookie_ok(f"a=b; {COOKIE}=secret-token")
    for header in (None, "", f"{COOKIE}=other", f"{COOKIE}=secret-token-longer", "x=secret-token", '"=;'):
        assert not access.cookie_ok(header), header
    cookie = access.set_cookie()
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and cookie.startswith(f"{COOKIE}=secret-token;")


def test_a_post_from_another_origin_or_not_json_is_refused():
    access = Access(5000, token="k")
    ok = {"Host": "127.0.0.1:5000", "Cookie": f"{COOKIE}=k", "Content-Type": "application/json"}
    assert access.allows("POST", {**ok, "Origin": "http://127.0.0.1:5000"}) is None
    assert access.allows("POST", {**ok, "Origin": "http://localhost:5000"}) is None
    assert access.allows("POST", {**ok, "Origin": "http://evil.example"})
    assert access.allows("POST", {**ok, "Origin": "null"})
    assert access.allows("POST", {**ok, "Origin": "http://127.0.0.1:5001"})
    assert access.allows("POST", {**ok, "Content-Type": "text/plain"})  # what a cross-site form can send
    assert access.allows("GET", {"Host": "127.0.0.1:5000"})  # no cookie
    assert access.allows("GET", {"Host": "evil.example:5000", "Cookie": f"{COOKIE}=k"})


def test_tokens_are_long_and_different_each_time():
    tokens = {Access(1).token for _ in range(20)}
    assert len(tokens) == 20 and all(len(t) >= 32 for t in tokens)


# -- SSE framing ----------------------------------------------------------------------------------

def test_a_record_is_one_event_with_its_seq_as_id_and_one_line_of_json():
    record = {"seq": 7, "t": 1.5, "event": "line", "line": "two\nlines and ünicode"}
    frame = sse.record(record).decode()
    assert frame.endswith("\n\n")
    lines = frame[:-2].split("\n")
    assert lines[0] == "id: 7"
    assert len(lines) == 2 and lines[1].startswith("data: ")
    assert json.loads(lines[1][len("data: "):]) == record


def test_a_stream_starts_after_last_event_id_then_since_then_from_the_start():
    assert sse.since(None, None, 50) == 0
    assert sse.since("10", None, 50) == 10
    assert sse.since("10", "20", 50) == 20  # a reconnect: where the browser left off
    assert sse.since(None, "80", 50) == 0  # another agent's id: everything this one keeps
    assert sse.since("junk", None, 50) == 0


# -- the server -----------------------------------------------------------------------------------

class Agent:
    def __init__(self):
        self.acts = []

    def status(self):
        return {"project": "p", "agent": {"pid": 1}, "containers": []}

    def act(self, action, service):
        if action not in ("reload", "rebuild", "restart"):
            raise ActionRefused(f"unknown action {action!r}")
        self.acts.append((action, service))
        return {"queued": action}


@pytest.fixture
def dash():
    bus, agent = EventBus(), Agent()
    bus("agent_started", pid=1)
    dashboard = Dashboard(bus, status=agent.status, act=agent.act, hello=lambda: {"pid": 1, "started_at": 2.0}).start()
    dashboard.agent = agent
    yield dashboard
    dashboard.close()


def request(dash, method, path, headers=None, body=None, host=None):
    conn = http.client.HTTPConnection("127.0.0.1", dash.port, timeout=5)
    conn.putrequest(method, path, skip_host=True)
    conn.putheader("Host", host or f"127.0.0.1:{dash.port}")
    for name, value in (headers or {}).items():
        conn.putheader(name, value)
    data = json.dumps(body).encode() if body is not None else b""
    if body is not None:
        conn.putheader("Content-Length", str(len(data)))
    conn.endheaders(data or None)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response, payload


def login(dash):
    response, _ = request(dash, "GET", f"/?token={dash.access.token}")
    assert response.status == 303 and response.getheader("Location") == "/"
    cookie = response.getheader("Set-Cookie")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    return {"Cookie": cookie.split(";")[0]}


def test_it_listens_on_127_0_0_1_only(dash):
    assert dash._server.server_address[0] == "127.0.0.1"
    other = _an_address_that_is_not_loopback()
    if other:  # the machine has another address: nothing answers there
        with pytest.raises(OSError):
            socket.create_connection((other, dash.port), timeout=1).close()


def _an_address_that_is_not_loopback():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.255.255.255", 1))  # no packet is sent: only picks the outgoing address
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_a_request_without_the_token_is_refused(dash):
    for path in ("/", "/api/status", "/events", "/assets/dashboard.js", "/?token=wrong"):
        response, body = request(dash, "GET", path)
        assert response.status == 403, path
        assert b"forbidden" in body
    response, _ = request(dash, "POST", "/api/act", {"Content-Type": "application/json"}, {"action": "reload"})
    assert response.status == 403
    assert dash.agent.acts == []


def test_the_token_is_swapped_for_a_cookie_that_opens_the_page(dash):
    cookie = login(dash)
    response, body = request(dash, "GET", "/", cookie)
    assert response.status == 200 and b"<title>devbox</title>" in body
    csp = response.getheader("Content-Security-Policy")
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    response, body = request(dash, "GET", "/api/status", cookie)
    assert json.loads(body)["project"] == "p"
    for path in asset_names():
        assert request(dash, "GET", path, cookie)[0].status == 200, path


def test_a_foreign_host_header_is_refused_even_with_the_cookie(dash):
    cookie = login(dash)
    response, _ = request(dash, "GET", "/", cookie, host=f"rebound.example:{dash.port}")
    assert response.status == 403
    response, _ = request(dash, "GET", f"/?token={dash.access.token}", host=f"rebound.example:{dash.port}")
    assert response.status == 403


def test_a_button_press_reaches_the_agent_only_from_the_page(dash):
    cookie = {**login(dash), "Content-Type": "application/json"}
    ours = {**cookie, "Origin": f"http://127.0.0.1:{dash.port}"}
    response, body = request(dash, "POST", "/api/act", ours, {"action": "reload", "service": "web"})
    assert response.status == 200 and json.loads(body) == {"ok": True, "queued": "reload"}
    response, _ = request(dash, "POST", "/api/act", {**cookie, "Origin": "http://evil.example"}, {"action": "rebuild"})
    assert response.status == 403
    response, _ = request(dash, "POST", "/api/act", {**ours, "Content-Type": "text/plain"}, {"action": "rebuild"})
    assert response.status == 403
    response, body = request(dash, "POST", "/api/act", ours, {"action": "explode"})
    assert response.status == 400 and "unknown action" in json.loads(body)["error"]
    assert dash.agent.acts == [("reload", "web")]


def test_events_replay_what_the_bus_keeps_then_follow_it_live(dash):
    cookie = login(dash)
    dash.bus("line", line="before")
    conn = http.client.HTTPConnection("127.0.0.1", dash.port, timeout=5)
    conn.request("GET", "/events?since=0", headers={**cookie, "Host": f"127.0.0.1:{dash.port}"})
    response = conn.getresponse()
    assert response.status == 200 and response.getheader("Content-Type").startswith("text/event-stream")
    frames = []
    reader = threading.Thread(target=lambda: _read_frames(response, frames, 4), daemon=True)
    reader.start()
    wait_until(lambda: len(frames) >= 4, 5, 0.01, "hello and the two kept records")
    dash.bus("line", line="after")
    wait_until(lambda: len(frames) >= 5, 5, 0.01, "the live record")
    assert frames[0].startswith("retry: ")
    assert "event: hello" in frames[1]
    records = [json.loads(re.search(r"^data: (.*)$", f, re.M).group(1)) for f in frames[2:5]]
    assert [(r["seq"], r["event"], r.get("line")) for r in records] == [
        (1, "agent_started", None), (2, "line", "before"), (3, "line", "after")]
    dash.bus("line", line="later")
    reader.join(5)
    conn.close()


def _read_frames(response, frames, count):
    buffer = ""
    while len(frames) < count + 2:
        chunk = response.fp.readline().decode()
        if not chunk:
            return
        buffer += chunk
        if chunk == "\n":
            frames.append(buffer)
            buffer = ""


def test_a_reconnect_gets_only_what_came_after_its_last_event_id(dash):
    cookie = login(dash)
    for n in range(3):
        dash.bus("line", line=f"n{n}")  # seqs 2, 3, 4
    conn = http.client.HTTPConnection("127.0.0.1", dash.port, timeout=5)
    conn.request("GET", "/events", headers={**cookie, "Host": f"127.0.0.1:{dash.port}", "Last-Event-ID": "3"})
    response = conn.getresponse()
    frames = []
    _read_frames(response, frames, 1)
    assert "id: 4\n" in frames[2] and '"n2"' in frames[2]
    conn.close()


def test_closing_ends_open_streams(dash):
    cookie = login(dash)
    conn = http.client.HTTPConnection("127.0.0.1", dash.port, timeout=5)
    conn.request("GET", "/events?since=0", headers={**cookie, "Host": f"127.0.0.1:{dash.port}"})
    response = conn.getresponse()
    frames = []
    _read_frames(response, frames, 1)
    dash.close()
    assert response.fp.read() == b""  # the stream ended, it did not hang
    conn.close()


# -- the page -------------------------------------------------------------------------------------

def test_the_page_loads_nothing_from_outside_127_0_0_1():
    for path in asset_names().values():
        text = path.read_text()
        urls = re.findall(r"https?://[^\s\"'<>)]+", text)
        assert [u for u in urls if u != "http://www.w3.org/2000/svg"] == [], path.name
        assert "@import" not in text and "fonts.g" not in text


def test_the_page_names_only_assets_that_exist():
    html = (Path(asset_names()["/assets/dashboard.js"]).parent / "index.html").read_text()
    for ref in re.findall(r'(?:href|src)="(/assets/[^"]+)"', html):
        assert ref in asset_names(), ref


def test_the_screenshots_were_made_from_the_current_page():
    recorded = (REPO / "docs" / "dashboard.sha256").read_text().strip()
    assert recorded == assets_digest(), (
        "the dashboard's assets changed since its screenshots were made: run scripts/screenshots")
    for name in ("dashboard.png", "dashboard-error.png", "dashboard-dark.png", "dashboard-narrow.png"):
        assert (REPO / "docs" / name).stat().st_size > 10000, name


# -- the buttons, down to the watcher ---------------------------------------------------------------

def test_a_batch_asked_for_by_hand_is_acted_on_by_the_watcher_in_turn(tmp_path):
    from devbox.actions import Action
    from devbox.batch import Batch
    from tests.unit.watching import Loop

    (tmp_path / "app.py").write_text("x = 1\n")
    loop = Loop(tmp_path, act_s=0)
    try:
        loop.watcher.ask(Batch(action=Action.RESTART, changed=[], services=["web"]))
        asked = wait_until(lambda: next((b for _, b in loop.batches if b.action == Action.RESTART), None), 5, 0.005,
                           "the asked-for batch")
        assert asked.services == ["web"] and asked.paths == []
        (tmp_path / "app.py").write_text("x = 2\n")  # saves go on as before
        assert loop.wait_for("app.py").action == Action.RELOAD
    finally:
        loop.stop()


class FakeWatcher:
    def __init__(self):
        self.asked = []

    def ask(self, batch):
        self.asked.append(batch)


def agent_with(tmp_path, rows, compose):
    from types import SimpleNamespace

    from devbox.agent.home import AgentHome
    from devbox.agent.runner import Agent
    from devbox.interfaces import Serving

    bus = EventBus()
    agent = Agent(AgentHome(tmp_path), open_project=None, bus=bus, name="shop")
    agent.project = SimpleNamespace(config=SimpleNamespace(compose=object() if compose else None))
    agent.serving = Serving(urls={}, stop=lambda: 0.0, watcher=FakeWatcher())
    agent.rows = rows
    return agent, bus


def test_the_agent_asks_its_watcher_for_a_compose_services_action_and_says_so(tmp_path):
    rows = [{"name": "web", "supervised": True}, {"name": "web.2", "supervised": True},
            {"name": "docs", "supervised": False}]
    agent, bus = agent_with(tmp_path, rows, compose=True)
    seen = []
    bus.add_reader(seen.append)
    assert agent.act("rebuild", "web.2") == {"queued": "rebuild", "service": "web.2"}
    batch = agent.serving.watcher.asked[0]
    assert (batch.action, batch.services, batch.paths) == ("rebuild", ["web"], [])
    assert [(r["event"], r.get("service"), r.get("action")) for r in seen] == [("dashboard_action", "web.2", "rebuild")]
    agent.act("reload", "")
    assert agent.serving.watcher.asked[1].services == []  # every supervised service
    for action, service, why in (("explode", "web", "unknown action"), ("reload", "docs", "no supervised service"),
                                 ("restart", "nope", "no supervised service")):
        with pytest.raises(ActionRefused, match=why):
            agent.act(action, service)
    assert len(agent.serving.watcher.asked) == 2


def test_a_single_containers_button_names_no_service(tmp_path):
    agent, bus = agent_with(tmp_path, [{"name": "shop", "supervised": None}], compose=False)
    agent.act("restart", "shop")
    assert agent.serving.watcher.asked[0].services == []
    assert "service" not in bus.subscribe(since=0).get(timeout=1)


def test_compose_acts_on_the_services_a_batch_asked_for_names():
    from types import SimpleNamespace

    from devbox.batch import Batch
    from devbox.compose.dispatch import Dispatcher

    running = SimpleNamespace(targets=[SimpleNamespace(service="web", label="web"), SimpleNamespace(service="web", label="web.2"),
                                       SimpleNamespace(service="api", label="api")])
    dispatcher = Dispatcher(session=None, running=running, union=None)
    assert dispatcher._asked(Batch(action="reload", changed=[], services=["web"])) == {"web": ("reload", [], [])}
    assert dispatcher._asked(Batch(action="rebuild", changed=[], services=[])) == {
        "web": ("rebuild", [], []), "api": ("rebuild", [], [])}
    assert dispatcher._asked(Batch(action="reload", changed=[], services=["gone"])) == {}


# -- what the terminal says -------------------------------------------------------------------------

def test_up_prints_the_dashboards_url_on_one_line_and_status_shows_it():
    import io

    from devbox.cli import agent_line
    from devbox.cli.console import Console
    from devbox.status import AgentStatus

    out = io.StringIO()
    console = Console(out=out)
    console.bus("project_up", urls={"": ["http://127.0.0.1:8000"]}, unsupervised=[], detached=False, log=None, pid=1,
                dashboard="http://127.0.0.1:9999/?token=abc")
    console.bus("dashboard_action", service="web", action="reload")
    console.bus("reloaded", service="web", paths=[], ms=41.0)
    lines = out.getvalue().splitlines()
    assert "[devbox] dashboard http://127.0.0.1:9999/?token=abc  (`devbox open` opens it)" in lines
    assert "[devbox] web: reload asked for on the dashboard" in lines
    assert "[devbox] web: ↻ requested -> reloaded in 41 ms" in lines
    agent = AgentStatus(pid=1, started_at=0.0, detached=False, socket="s", dashboard="http://127.0.0.1:9999/?token=abc")
    assert "dashboard http://127.0.0.1:9999/?token=abc" in agent_line(agent)
    assert agent.to_dict()["dashboard"] == "http://127.0.0.1:9999/?token=abc"  # status --json: agent.dashboard


def test_dashboard_port_is_read_from_devbox_yml(tmp_path):
    from devbox import config
    from devbox.errors import ConfigError

    (tmp_path / "devbox.yml").write_text("app: a:b\ndashboard:\n  port: 8765\n")
    assert config.load(tmp_path / "devbox.yml", cwd=tmp_path, environ={}).dashboard.port == 8765
    (tmp_path / "devbox.yml").write_text("app: a:b\n")
    assert config.load(tmp_path / "devbox.yml", cwd=tmp_path, environ={}).dashboard.port == 0
    (tmp_path / "devbox.yml").write_text("app: a:b\ndashboard: {port: 70000}\n")
    with pytest.raises(ConfigError, match="dashboard.port|port"):
        config.load(tmp_path / "devbox.yml", cwd=tmp_path, environ={})


def test_a_taken_dashboard_port_is_said_with_what_to_do():
    from devbox.errors import DevboxError

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(DevboxError, match="dashboard.port"):
            Dashboard(EventBus(), status=dict, act=lambda a, s: {}, port=taken.getsockname()[1])
