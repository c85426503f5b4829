"""The dashboard's screenshots (run by scripts/screenshots, which provides the engine, the base
image and Chromium): the compose/ example in a temporary directory, `devbox up -d`, a few saves
and a button press, then the page in headless Chromium, light, with an error, and dark."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from devbox.dashboard.server import assets_digest  # noqa: E402
from tests import browser as chromium  # noqa: E402

DOCS = REPO / "docs"
WIDTH, HEIGHT = 1280, 1320


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise SystemExit(f"screenshots: timed out waiting for {what}")


class Shop:
    def __init__(self, top: Path, name: str):
        shutil.copytree(REPO / "compose", top / "compose", ignore=shutil.ignore_patterns(".devbox", "__pycache__"))
        shutil.copytree(REPO / "docker", top / "docker")
        self.root, self.name = top / "compose", name
        self.env = {**os.environ, "WEB_PORT": str(free_port()), "API_PORT": str(free_port()),
                    "DEVBOX_IMAGE": os.environ.get("DEVBOX_IMAGE", "python:3.12-slim")}
        self.edit("devbox.yml", "name: shop\n", f"name: {name}\n")

    def devbox(self, *args, check=True, timeout=300):
        result = subprocess.run([sys.executable, "-m", "devbox", *args], cwd=self.root, env=self.env,
                                capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise SystemExit(f"devbox {' '.join(args)}: {result.stdout}{result.stderr}")
        return result

    def edit(self, rel: str, old: str, new: str) -> None:
        path = self.root / rel
        text = path.read_text()
        assert old in text, (old, rel)
        path.write_text(text.replace(old, new))


def shot(driver, name: str) -> None:
    time.sleep(1.7)  # the highlight of a new row fades in 1.6 s
    DOCS.mkdir(exist_ok=True)
    driver.save_screenshot(str(DOCS / name))
    print(f"screenshots: wrote docs/{name}")


def main() -> int:
    from selenium.webdriver.common.by import By

    name = f"shop-shots-{uuid.uuid4().hex[:6]}"
    top = Path(tempfile.mkdtemp(prefix="devbox-shots-"))
    shop = Shop(top, name)
    driver = None
    try:
        shop.devbox("up", "-d")
        status = json.loads(shop.devbox("status", "--json").stdout)
        url = status["agent"]["dashboard"]
        for version in ("v2", "v3", "v4"):
            previous = {"v2": "v1", "v3": "v2", "v4": "v3"}[version]
            shop.edit("services/web/app.py", f'"web {previous}"', f'"web {version}"')
            shop.devbox("wait")
        shop.edit("services/api/app.py", '"hello from api v1"', '"hello from api v2"')
        shop.devbox("wait")
        profile = top / "profile"
        profile.mkdir()
        driver = chromium.start(profile, WIDTH, HEIGHT)
        driver.get(url)
        wait_until(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#reloads tr[data-seq]")) >= 4, 20, "reload rows")
        driver.find_element(By.CSS_SELECTOR, '[data-service="api"] [data-action="reload"]').click()
        wait_until(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#reloads tr[data-seq]")) >= 5, 30, "the button's reload")
        driver.execute_script("document.getElementById('log-filter').blur()")
        shot(driver, "dashboard.png")

        shop.edit("services/web/app.py", '"web v4"', '"web v5" +')  # a syntax error
        wait_until(lambda: driver.find_elements(By.CSS_SELECTOR, ".error .tb"), 30, "the pinned error")
        shot(driver, "dashboard-error.png")

        shop.edit("services/web/app.py", '"web v5" +', '"web v5"')
        wait_until(lambda: not driver.find_elements(By.CSS_SELECTOR, ".error"), 30, "the error to go")
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
        shot(driver, "dashboard-dark.png")
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "light"}]})
        driver.set_window_size(420, 1320)  # a narrow window: one column
        shot(driver, "dashboard-narrow.png")
        (DOCS / "dashboard.sha256").write_text(assets_digest() + "\n")
        print("screenshots: wrote docs/dashboard.sha256")
        return 0
    finally:
        if driver is not None:
            driver.quit()
        shop.devbox("down", check=False)
        images = subprocess.run(["docker", "images", "--format", "{{.Repository}}"], capture_output=True, text=True).stdout.split()
        for image in images:
            if image.startswith((f"{name}_", f"{name}-")):
                subprocess.run(["docker", "rmi", "-f", image], capture_output=True)
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
