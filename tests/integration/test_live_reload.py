"""Browser live reload with a real headless Chromium and a real container: a page open in the
browser shows a save without the test reloading it, shows a load error as an overlay and
recovers, swaps a stylesheet without a navigation; non-HTML and streamed answers pass through
unchanged, and `live_reload: false` leaves every answer untouched."""

import json

import pytest
from selenium.common.exceptions import JavascriptException, NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.project import http_get

pytestmark = [pytest.mark.docker, pytest.mark.browser]

PAGE_APP = '''
import os

MESSAGE = "first text"
HERE = os.path.dirname(os.path.abspath(__file__))


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/static/style.css":
        with open(os.path.join(HERE, "static", "style.css"), "rb") as f:
            data = f.read()
        start_response("200 OK", [("Content-Type", "text/css"), ("Content-Length", str(len(data)))])
        return [data]
    if path == "/data":
        data = b'{"html": "<head></head>"}'
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]
    if path == "/stream":  # no length: streamed, delimited by the connection closing
        start_response("200 OK", [("Content-Type", "text/html")])
        return iter([b"<html><head></head>", b"<body>streamed</body></html>"])
    data = ('<!doctype html><html><head><link rel="stylesheet" href="/static/style.css"></head>'
            '<body><h1 id="message">' + MESSAGE + '</h1></body></html>').encode()
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(data)))])
    return [data]
'''


@pytest.fixture
def page_project(project):
    project.write("app.py", PAGE_APP)
    project.write("static/style.css", "h1 { color: rgb(255, 0, 0); }\n")
    return project


def edit(project, old, new):
    path = project.root / "app.py"
    path.write_text(path.read_text().replace(old, new))


def text_of(browser, element_id):
    """The element's text, read in one step (a page reloading under the test has no stale
    element to trip on)."""
    return browser.execute_script("var e = document.getElementById(arguments[0]); return e ? e.textContent : null;",
                                  element_id)


# A page that reloads itself under the test: a script may run while the old document goes.
TRANSIENT = (StaleElementReferenceException, JavascriptException, NoSuchElementException)


def wait(browser, condition, what, timeout=30):
    WebDriverWait(browser, timeout, 0.02, ignored_exceptions=TRANSIENT).until(lambda b: condition(b), message=what)


def open_page(browser, project):
    browser.get(project.url + "/")
    wait(browser, lambda b: text_of(b, "message") == "first text", "the page")
    wait(browser, lambda b: b.execute_script("return !!(window.__devboxLive && window.__devboxLive.source "
                                             "&& window.__devboxLive.source.readyState === 1)"),
         "the live-reload script connected")
    browser.execute_script("window.__marker = 'still the same page';")


def marker(browser):
    return browser.execute_script("return window.__marker || null;")


def test_a_save_shows_in_the_open_page_without_the_test_reloading_it(page_project, browser, docker_client):
    page_project.devbox("up", "-d")
    open_page(browser, page_project)
    edit(page_project, "first text", "second text")
    wait(browser, lambda b: text_of(b, "message") == "second text", "the new text, by the page's own reload")
    assert marker(browser) is None  # the page reloaded itself: the test never navigated


def test_a_syntax_error_shows_an_overlay_and_the_next_good_save_recovers(page_project, browser, docker_client):
    page_project.devbox("up", "-d")
    open_page(browser, page_project)
    edit(page_project, 'MESSAGE = "first text"', 'MESSAGE = "first text"\ndef broken(:')
    wait(browser, lambda b: b.find_elements(By.ID, "__devbox_overlay"), "the error overlay")
    overlay = browser.find_element(By.ID, "__devbox_overlay").text
    assert "SyntaxError" in overlay and 'File "app.py", line 5' in overlay
    assert marker(browser) == "still the same page"  # no reload onto the error page
    assert text_of(browser, "message") == "first text"  # the page under the overlay is the last good one
    edit(page_project, "def broken(:", 'MESSAGE = "fixed text"')
    wait(browser, lambda b: text_of(b, "message") == "fixed text", "the fixed page")
    assert not browser.find_elements(By.ID, "__devbox_overlay")


def test_a_css_edit_changes_the_style_without_a_navigation(page_project, browser, docker_client):
    page_project.devbox("up", "-d")
    open_page(browser, page_project)
    color = "return getComputedStyle(document.getElementById('message')).color;"
    assert browser.execute_script(color) == "rgb(255, 0, 0)"
    (page_project.root / "static" / "style.css").write_text("h1 { color: rgb(0, 0, 255); }\n")
    wait(browser, lambda b: b.execute_script(color) == "rgb(0, 0, 255)", "the new stylesheet")
    assert marker(browser) == "still the same page"


def test_non_html_and_streamed_answers_pass_through_unchanged(page_project, docker_client):
    page_project.devbox("up", "-d")
    assert http_get(page_project.url + "/data") == (200, '{"html": "<head></head>"}')
    assert http_get(page_project.url + "/stream") == (200, "<html><head></head><body>streamed</body></html>")
    status, body = http_get(page_project.url + "/")
    assert status == 200 and body.count('<script src="/__devbox/live.js?v=') == 1
    assert f'"{page_project.url}"' in page_project.devbox("status", "--json").stdout  # the user's URL


def test_live_reload_false_leaves_every_answer_untouched(page_project, docker_client):
    page_project.write_config("live_reload: false\n")
    page_project.devbox("up", "-d")
    status, body = http_get(page_project.url + "/")
    assert status == 200 and "<script" not in body and body.endswith("</body></html>")
    assert http_get(page_project.url + "/__devbox/live.js")[1] == body  # the app's own answer: no devbox path
    container = docker_client.containers.list(filters={"label": f"devbox.project={page_project.name}"})[0]
    assert container.attrs["HostConfig"]["PortBindings"][f"{page_project.port}/tcp"][0]["HostPort"] == str(page_project.port)


def test_a_saved_port_change_moves_the_proxy(page_project, docker_client):
    from tests.conftest import free_port
    from tests.waiting import wait_until

    page_project.devbox("up", "-d")
    old = page_project.url
    page_project.port = free_port()
    page_project.write_config()  # the same app on another host port: the container is recreated
    wait_until(lambda: http_get(page_project.url + "/")[0] == 200 if _accepts(page_project.port) else False,
               60, 0.05, "the proxy on the new port")
    assert http_get(page_project.url + "/")[1].count("/__devbox/live.js") == 1
    assert not _accepts(int(old.rsplit(":", 1)[1]))  # the old port is let go


def _accepts(port):
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


# -- command: servers -------------------------------------------------------------------------------

SERVERS_APP = '''
MESSAGE = "first text"
PAGE = '<!doctype html><html><head></head><body><h1 id="message">{}</h1></body></html>'

try:
    from flask import Flask

    app = Flask(__name__)
    app.add_url_rule("/", "index", lambda: PAGE.format(MESSAGE))
except ImportError:
    app = None


async def asgi(scope, receive, send):
    if scope["type"] != "http":
        return
    body = PAGE.format(MESSAGE).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/html"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
'''


@pytest.mark.parametrize("command", ["flask --app app run", "gunicorn app:app", "uvicorn app:asgi --fd 3"])
def test_a_command_servers_page_reloads_when_the_new_server_answers(project, frameworks_image, browser,
                                                                    docker_client, command):
    project.write("app.py", SERVERS_APP)
    project.write("devbox.yml", f"name: {project.name}\nimage: {frameworks_image}\ncommand: {command}\n"
                                f"ports: ['{project.port}:8000']\n")
    project.devbox("up", "-d", timeout=180)
    open_page(browser, project)
    edit(project, "first text", "second text")
    wait(browser, lambda b: text_of(b, "message") == "second text", "the new text, by the page's own reload", 40)
    assert marker(browser) is None


def test_a_django_runserver_page_reloads_on_a_template_edit_and_swaps_its_stylesheet(project, frameworks_image,
                                                                                   browser, docker_client):
    from tests.integration.frameworks.served import copy_example

    copy_example("django_site", project.root)
    project.write("devbox.yml", f"name: {project.name}\nimage: {frameworks_image}\n"
                                f"command: python3 manage.py runserver 0.0.0.0:8000\nports: ['{project.port}:8000']\n")
    project.devbox("up", "-d", timeout=180)
    body = "return document.body ? document.body.textContent : '';"
    color = "var h = document.querySelector('h1'); return h ? getComputedStyle(h).color : null;"
    browser.get(project.url + "/")
    wait(browser, lambda b: "template v1" in b.execute_script(body) and b.execute_script(
        "return !!(window.__devboxLive && window.__devboxLive.source && window.__devboxLive.source.readyState === 1)"),
        "the page, its script connected")  # the page has no </head> or </body>: the tag is at its end
    assert browser.execute_script(color) == "rgb(0, 128, 0)"
    browser.execute_script("window.__marker = 'still the same page';")

    css = project.root / "polls/static/polls/style.css"
    css.write_text(css.read_text().replace("green", "blue"))  # static/**: synced, no restart
    wait(browser, lambda b: b.execute_script(color) == "rgb(0, 0, 255)", "the new stylesheet")
    assert marker(browser) == "still the same page"

    template = project.root / "polls/templates/polls/index.html"
    template.write_text(template.read_text().replace("template v1", "template v2"))
    wait(browser, lambda b: "template v2" in b.execute_script(body), "the edited template, by the page's own reload", 60)
    assert marker(browser) is None


# -- a compose service --------------------------------------------------------------------------

from tests.integration.test_compose import shop  # noqa: E402, F401 - the compose/ example, as a fixture

WEB_PAGE = '''
MESSAGE = "compose first"


def app(environ, start_response):
    data = ('<!doctype html><html><head></head><body><h1 id="message">' + MESSAGE + '</h1></body></html>').encode()
    start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(data)))])
    return [data]
'''


def test_a_compose_services_page_reloads_through_its_live_url(shop, browser, docker_client):  # noqa: F811
    import re

    shop.write("services/web/app.py", WEB_PAGE)
    shop.devbox("up", "-d", timeout=180)
    agent = json.loads(shop.devbox("status", "--json").stdout)["agent"]
    live_url = agent["live"]["web"]
    with open(agent["log"]) as f:
        assert re.search(rf"web: serving {re.escape(live_url)}\b", f.read())
    assert f"live reload web {live_url}" in shop.devbox("status").stdout
    assert live_url != shop.url  # compose publishes the file's port; the proxy has one of its own
    browser.get(live_url + "/")
    wait(browser, lambda b: text_of(b, "message") == "compose first", "the page")
    wait(browser, lambda b: b.execute_script("return !!(window.__devboxLive && window.__devboxLive.source "
                                             "&& window.__devboxLive.source.readyState === 1)"), "connected")
    shop.edit("services/web/app.py", "compose first", "compose second")
    wait(browser, lambda b: text_of(b, "message") == "compose second", "the new text, by the page's own reload")
    assert "<script" not in http_get(shop.url + "/")[1]  # the file's own port reaches the app untouched


# -- a remote engine over ssh ---------------------------------------------------------------------

from tests.integration.test_remote import remote, sshd  # noqa: E402, F401 - the engine behind sshd on 127.0.0.1


def test_over_an_ssh_engine_the_proxy_fronts_the_forwards_local_end(page_project, remote, browser,  # noqa: F811
                                                                    docker_client):
    page_project.devbox("up", "-d", env=remote)
    status, body = http_get(page_project.url + "/")
    assert status == 200 and body.count('<script src="/__devbox/live.js?v=') == 1  # the user's URL: the proxy
    open_page(browser, page_project)
    edit(page_project, "first text", "second text")  # copied over ssh, reloaded there
    wait(browser, lambda b: text_of(b, "message") == "second text", "the new text, by the page's own reload")
    assert f'"{page_project.url}"' in page_project.devbox("status", "--json", env=remote).stdout
    page_project.devbox("down", env=remote)
