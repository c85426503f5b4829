"""The agent's dashboard in a real headless Chromium, against a real compose project (the
compose/ example the compose tests use) and a single container: what it lists, what a save, a
syntax error and its buttons do to it, and who may use it."""

import json
import urllib.error
import urllib.request

import pytest
from selenium.webdriver.common.by import By

from tests.integration.test_compose import shop  # noqa: F401 - the compose/ example, as a fixture
from tests.project import HELLO_APP
from tests.waiting import wait_until

pytestmark = [pytest.mark.docker, pytest.mark.browser]


def dashboard_url(project) -> str:
    status = json.loads(project.devbox("status", "--json").stdout)
    url = status["agent"]["dashboard"]
    assert url.startswith("http://127.0.0.1:") and "?token=" in url
    return url


# The page re-renders what changed, so the tests read it in one script call each (an element
# found first and read later may have been replaced meanwhile); its buttons are never replaced.
def row_texts(browser, after: int = 0):
    """The reload rows' texts, newest first: those newer than seq `after` (the bus counts from 1)."""
    rows = browser.execute_script("return [...document.querySelectorAll('#reloads tr[data-seq]')]"
                                  ".filter((r) => Number(r.dataset.seq) > arguments[0]).map((r) => r.innerText)", after)
    return [" ".join(text.split()) for text in rows]  # a row's cells come tab-separated


def newest_seq(browser) -> int:
    return browser.execute_script("return Math.max(0, ...[...document.querySelectorAll('#reloads tr[data-seq]')]"
                                  ".map((r) => Number(r.dataset.seq)))")


def wait_new_row(browser, after: int, text: str, timeout: float, what: str) -> str:
    """The text of a row newer than seq `after` that holds `text`: an action's row need not be
    the newest (a save's reload row may land after it)."""
    return wait_until(lambda: next((row for row in row_texts(browser, after) if text in row), None), timeout, 0.05, what)


def card_text(browser, name):
    return browser.execute_script("const c = document.querySelector(`.service[data-service=\"${arguments[0]}\"]`);"
                                  "return c ? c.innerText : null", name)


def press(browser, service, action):
    browser.find_element(By.CSS_SELECTOR, f'.service[data-service="{service}"] [data-action="{action}"]').click()


def test_the_dashboard_of_a_compose_project_shows_it_live_and_drives_it(shop, browser, docker_client):  # noqa: F811
    up = shop.devbox("up", "-d")
    assert "dashboard http://127.0.0.1:" in up.stdout  # on one line of `up`'s output
    url = dashboard_url(shop)
    assert f"dashboard {url}" in shop.devbox("status").stdout

    browser.get(url)
    assert "?token" not in browser.current_url  # swapped for a cookie at once
    cards = wait_until(lambda: (lambda names: sorted(names) == ["api", "docs", "web"] and names)(browser.execute_script(
        "return [...document.querySelectorAll('.service')].map((c) => c.dataset.service)")), 20, 0.05, "the services")
    assert len(cards) == 3
    web = card_text(browser, "web")
    assert f"http://127.0.0.1:{shop.port}" in web and "serving" in web and "supervisor 1" in web
    assert f"http://127.0.0.1:{shop.api_port}" in card_text(browser, "api")
    assert "not supervised" in card_text(browser, "docs")
    browser.execute_script("window.devboxSamePage = 42")  # gone if the page were loaded again

    # A save: a new reload row, with its trigger and its stage bar, without reloading the page.
    before = len(row_texts(browser))
    shop.edit("services/web/app.py", '"web v1"', '"web v2"')
    wait_until(lambda: len(row_texts(browser)) > before, 30, 0.05, "a new reload row")
    newest = row_texts(browser)[0]
    assert "web" in newest and "services/web/app.py" in newest and " ms" in newest
    assert browser.execute_script("return document.querySelectorAll('#reloads tr[data-seq]')[0]"
                                  ".querySelectorAll('.bar span.s-batch, .bar span.s-signal, .bar span.s-respawn').length") == 3
    assert browser.execute_script("return window.devboxSamePage") == 42

    # A syntax error: pinned at the top with the file and the line, until the next good reload.
    shop.edit("services/web/app.py", '"web v2"', '"web v3" +')
    error = wait_until(lambda: browser.execute_script("const e = document.querySelector('.error'); return e && e.innerText"),
                       30, 0.05, "the pinned error")
    assert "web: SyntaxError" in error and "web/app.py:7" in error, error
    assert 'TITLE = "web v3" +' in error  # the project's frame, shown first
    assert "crashed" in card_text(browser, "web")
    shop.edit("services/web/app.py", '"web v3" +', '"web v3"')
    wait_until(lambda: not browser.find_elements(By.CSS_SELECTOR, ".error"), 30, 0.05, "the error unpinned")
    first = wait_until(lambda: (lambda r: r["title"] == "web v3" and r)(shop.web()), 30, 0.05, "web v3")

    # Reload: the app's child is replaced, and the row says a button did it.
    seq = newest_seq(browser)
    press(browser, "web", "reload")
    wait_new_row(browser, seq, "reload button", 30, "the button's reload row")
    assert shop.web()["pid"] != first["pid"]

    # Restart: a new container process (it started again), followed and driven as before.
    started = {c.name: c.attrs["State"]["StartedAt"] for c in shop.containers(docker_client)}
    seq = newest_seq(browser)
    press(browser, "api", "restart")
    wait_new_row(browser, seq, "api restart button restart", 60, "the restart row")
    api = next(c for c in shop.containers(docker_client) if c.labels["com.docker.compose.service"] == "api")
    assert api.attrs["State"]["StartedAt"] != started[api.name]
    shop.edit("services/api/app.py", '"hello from api v1"', '"hello from api v2"')
    wait_until(lambda: shop.api()["message"] == "hello from api v2", 30, 0.05, "api reloaded after its restart")

    # Rebuild: compose builds web's image again (the cache makes it the same image: then a reload).
    seq = newest_seq(browser)
    press(browser, "web", "rebuild")
    wait_new_row(browser, seq, "rebuild button", 120, "the rebuild's row")
    log = shop.devbox("logs", "web").stdout
    assert log  # still there
    assert browser.execute_script("return window.devboxSamePage") == 42


def test_a_request_without_the_token_is_refused_and_devbox_open_opens_the_page(project, docker_client, browser, tmp_path):
    project.devbox("up", "-d")
    url = dashboard_url(project)
    base = url.split("?")[0]
    for attempt in (base, base + "api/status", base + "events", base + "?token=wrong" + url[-4:]):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(attempt, timeout=5)
        assert refused.value.code == 403, attempt
    post = urllib.request.Request(base + "api/act", data=b'{"action": "reload"}', method="POST",
                                  headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(post, timeout=5)
    assert refused.value.code == 403

    # `devbox open` hands the URL to the user's browser ($BROWSER, as Python's webbrowser reads it).
    opened = tmp_path / "opened"
    fake = tmp_path / "fake-browser"
    fake.write_text(f"#!/bin/sh\necho \"$1\" > {opened}\n")
    fake.chmod(0o755)
    result = project.devbox("open", env={"BROWSER": str(fake)})
    assert "opened" in result.stdout
    wait_until(opened.exists, 10, 0.05, "the browser started")
    assert opened.read_text().strip() == url

    # The single container's card, and its reload button, in the page itself.
    browser.get(opened.read_text().strip())
    card = wait_until(lambda: card_text(browser, project.name), 20, 0.05, "the container's card")
    assert "serving" in card
    assert project.get("/") == (200, "v1\n")
    seq = newest_seq(browser)
    press(browser, project.name, "reload")
    wait_new_row(browser, seq, "reload button", 30, "the reload row")
    assert project.get("/") == (200, "v1\n")

    # Restart and rebuild of a single container: a new container process, then an image that
    # came out the same (`image:`, found cached): the container kept, reloaded.
    started = docker_client.containers.get(f"{project.name}-devbox").attrs["State"]["StartedAt"]
    seq = newest_seq(browser)
    press(browser, project.name, "restart")
    wait_new_row(browser, seq, "restart button restart", 60, "the restart row")
    assert docker_client.containers.get(f"{project.name}-devbox").attrs["State"]["StartedAt"] != started
    project.write("app.py", HELLO_APP.replace('BODY = "v1"', 'BODY = "v2"'))
    project.wait_body("v2\n")  # still watched and reloaded after the restart
    seq = newest_seq(browser)
    press(browser, project.name, "rebuild")
    wait_new_row(browser, seq, "rebuild button rebuild", 60, "the rebuild row")
    assert not browser.find_elements(By.CSS_SELECTOR, ".error")
    project.devbox("down")
