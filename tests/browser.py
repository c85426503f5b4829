"""A real headless Chromium, driven with selenium, for the tests that look at a page the way a
person would (live reload, the dashboard).

scripts/browser (called by scripts/test) installs Debian's chromium and chromium-driver and
exports DEVBOX_CHROMIUM and DEVBOX_CHROMEDRIVER; selenium comes from the test extras. A missing
browser is a failure that says how to get one, never a skip.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# As root on a machine with no display and a closed network: no sandbox (root), no GPU, no
# /dev/shm limits, and none of Chromium's own background connections, which this machine refuses.
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--window-size=1200,900",
)


def paths() -> tuple:
    chromium = os.environ.get("DEVBOX_CHROMIUM", "/usr/bin/chromium")
    driver = os.environ.get("DEVBOX_CHROMEDRIVER", "/usr/bin/chromedriver")
    for path, package in ((chromium, "chromium"), (driver, "chromium-driver")):
        if not os.access(path, os.X_OK):
            pytest.fail(f"no {package} at {path}; run the tests with scripts/test (scripts/browser installs "
                        f"chromium and chromium-driver)")
    return chromium, driver


def start(profile: Path, width: int = 1200, height: int = 900):
    """A new headless Chromium with an empty profile in `profile`; the caller quits it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = paths()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    options.add_argument(f"--user-data-dir={profile}")
    # An explicit driver path: selenium's own driver manager never runs (it would try to download).
    service = Service(executable_path=driver, log_output=str(profile / "chromedriver.log"))
    browser = webdriver.Chrome(service=service, options=options)
    browser.set_page_load_timeout(30)
    return browser
