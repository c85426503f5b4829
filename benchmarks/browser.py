"""Save-to-new-text-in-the-browser for a Flask page, in a real headless Chromium.

    .venv/bin/python benchmarks/browser.py [--edits 10] [--delays 50,100,200,400,800]

Serves one Flask page from a container of the framework image (`DEVBOX_FRAMEWORKS_IMAGE`, built
by scripts/engine) with the real `devbox up -d`, opens it in Chromium (scripts/browser), then
edits the view's MESSAGE line:

- devbox live reload: nothing is done in the browser; the page reloads itself. The time is from
  just before the save to the new page's DOMContentLoaded (the browser's own clock, this
  machine's), read once the new text shows.
- a fixed delay: what a reloader that does not know when the new code serves can do (an editor
  plugin, a file-watching reloader): reload the page D ms after the save, through the same proxy
  with its script blocked in the browser. For each D from the list, every edit is reloaded after D; D "shows an error" when one reload
  showed the old text or an error page. The best D is the smallest that never did; its p50 is
  D plus the page load.

Prints one line per contender and a Markdown table for the README.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

APP = '''from flask import Flask

app = Flask(__name__)
MESSAGE = "edit 0"


@app.route("/")
def index():
    return ('<!doctype html><html><head><title>bench</title></head>'
            '<body><h1 id="message">' + MESSAGE + '</h1></body></html>')
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """One devbox project serving the page (live reload on or off)."""

    def __init__(self, image: str, live: bool, command: str = ""):
        self.root = Path(tempfile.mkdtemp(prefix="dbx-bench-browser-"))
        self.name = f"bench-browser-{uuid.uuid4().hex[:6]}"
        self.port = free_port()
        (self.root / "app.py").write_text(APP)
        serves = f"command: {command}" if command else "app: app:app"
        (self.root / "devbox.yml").write_text(f"name: {self.name}\nimage: {image}\n{serves}\n"
                                              f"ports: ['{self.port}:8000']\nlive_reload: {str(live).lower()}\n")
        self.env = {**os.environ, "XDG_RUNTIME_DIR": tempfile.mkdtemp(prefix="dbx-")}
        self.devbox("up", "-d")
        self.n = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def devbox(self, *args):
        return subprocess.run([sys.executable, "-m", "devbox", *args], cwd=self.root, env=self.env, check=True,
                              capture_output=True, text=True, timeout=180)

    def edit(self) -> str:
        """Save the next MESSAGE; the text the page shows once it serves."""
        self.n += 1
        path = self.root / "app.py"
        path.write_text(path.read_text().replace(f'"edit {self.n - 1}"', f'"edit {self.n}"'))
        return f"edit {self.n}"

    def down(self):
        try:
            self.devbox("down")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def shown(browser) -> str:
    return browser.execute_script("var e = document.getElementById('message'); return e ? e.textContent : '';")


def loaded_at(browser) -> float:
    """Epoch ms of the current page's DOMContentLoaded."""
    return browser.execute_script("var n = performance.getEntriesByType('navigation')[0];"
                                  "return performance.timeOrigin + n.domContentLoadedEventEnd;")


def until(predicate, timeout=20.0, step=0.005):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def run_live(browser, image: str, edits: int, command: str = "") -> list:
    served = Served(image, live=True, command=command)
    try:
        browser.get(served.url)
        until(lambda: browser.execute_script("return !!(window.__devboxLive && window.__devboxLive.source"
                                             " && window.__devboxLive.source.readyState === 1)"))
        times = []
        for _ in range(edits):
            time.sleep(0.3)  # the previous page settled (not a wait for a result)
            t0 = time.time() * 1000.0
            text = served.edit()
            if not until(lambda text=text: shown(browser) == text):
                raise SystemExit(f"live reload never showed {text!r}")
            until(lambda: browser.execute_script("return document.readyState") != "loading")
            times.append(loaded_at(browser) - t0)
        return times
    finally:
        served.down()


def run_fixed(browser, image: str, edits: int, delay_ms: float, command: str = ""):
    """(times, bad reloads) with a reload `delay_ms` after each save (live reload off)."""
    # Through the same proxy (a browser's kept-alive connection to the app would reach the old
    # child), with its script blocked: only when the page reloads differs.
    served = Served(image, live=True, command=command)
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/__devbox/*"]})
    try:
        browser.get(served.url)
        times, bad = [], 0
        for _ in range(edits):
            time.sleep(0.3)
            t0 = time.time() * 1000.0
            text = served.edit()
            time.sleep(max(0.0, (t0 + delay_ms) / 1000.0 - time.time()))
            try:
                browser.refresh()
            except Exception:  # noqa: BLE001 - a refused connection is an error shown
                bad += 1
                continue
            if shown(browser) != text:
                bad += 1
                until(lambda text=text: (browser.refresh() or shown(browser)) == text, step=0.05)
                continue
            times.append(loaded_at(browser) - t0)
        return times, bad
    finally:
        browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": []})
        served.down()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=10)
    parser.add_argument("--delays", default="25,50,100,200,400,800")
    parser.add_argument("--command", default="", help="serve with this command instead of app: app:app "
                        "(e.g. 'flask --app app run')")
    args = parser.parse_args(argv)
    image = os.environ.get("DEVBOX_FRAMEWORKS_IMAGE")
    if not image:
        raise SystemExit("set DEVBOX_FRAMEWORKS_IMAGE (scripts/engine builds it)")
    from tests import browser as chromium

    profile = Path(tempfile.mkdtemp(prefix="dbx-chromium-"))
    browser = chromium.start(profile)
    rows = []
    try:
        live = run_live(browser, image, args.edits, args.command)
        rows.append(("devbox live reload (the page reloads itself)", live, 0, None))
        print(f"live: p50 {statistics.median(live):.0f} ms  max {max(live):.0f} ms  {json.dumps([round(t) for t in live])}")
        for delay in [float(d) for d in args.delays.split(",")]:
            times, bad = run_fixed(browser, image, args.edits, delay, args.command)
            p50 = statistics.median(times) if times else float("nan")
            print(f"fixed {delay:.0f} ms: {bad} of {args.edits} reloads showed the old page or an error; p50 {p50:.0f} ms")
            rows.append((f"reload {delay:.0f} ms after the save", times, bad, delay))
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)
    best = next((r for r in rows[1:] if r[2] == 0), None)
    print()
    print("| contender | save→new text p50 | max | reloads showing the old page or an error |")
    print("|---|---:|---:|---:|")
    for label, times, bad, _delay in rows:
        mark = " (best fixed delay)" if best is not None and label == best[0] else ""
        p50 = f"{statistics.median(times):.0f} ms" if times else "-"
        worst = f"{max(times):.0f} ms" if times else "-"
        print(f"| {label}{mark} | {p50} | {worst} | {bad} of {args.edits} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
