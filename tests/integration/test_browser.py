"""The browser the page tests use works here: headless Chromium loads a page from 127.0.0.1,
runs its script, and selenium reads what the script wrote."""

import http.server
import threading

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

pytestmark = pytest.mark.browser

PAGE = b"""<!doctype html><title>t</title><p id="out">static</p>
<script>document.getElementById("out").textContent = "script ran " + (6 * 7);</script>"""


class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args):
        pass


def test_headless_chromium_runs_a_pages_script(browser):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        browser.get(f"http://127.0.0.1:{server.server_address[1]}/")
        WebDriverWait(browser, 10, 0.02).until(lambda b: b.find_element(By.ID, "out").text == "script ran 42")
    finally:
        server.shutdown()
        server.server_close()
