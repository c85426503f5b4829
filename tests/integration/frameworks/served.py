"""An example project from tests/apps, served by a foreground `devbox up -v` in the framework image.

`Served` is what every framework test does: start, wait for a page, edit a file, wait for the
edit to be served, read what devbox printed. The first wait ends early on an answer that cannot
turn into the expected one by waiting (devbox's error page before any save, or devbox having
exited), so a test of what is broken today fails in seconds rather than at its deadline.
"""

from __future__ import annotations

import http.client
import re
import shutil
import time
from pathlib import Path

from tests.project import http_get
from tests.waiting import wait_until

APPS = Path(__file__).resolve().parents[2] / "apps"
CONTAINER_PORT = 8000  # the examples' own port (bottle_app binds it itself)
RELOAD_LINE = re.compile(r"\[devbox\] ↻ (.+) -> reloaded in (\d+) ms")
REQUEST_LINE = re.compile(r"\[app\] +[A-Z]+ /\S* \d{3} ")
ERROR_PAGE_MARK = "devbox will reload when you save a file"
START_TIMEOUT = 60.0
EDIT_TIMEOUT = 15.0


def copy_example(example: str, root: Path) -> None:
    """tests/apps/EXAMPLE's files into the project directory, replacing the `project` fixture's app."""
    for made in ("app.py", "devbox.yml"):
        (root / made).unlink(missing_ok=True)
    shutil.copytree(APPS / example, root, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "db.sqlite3"))


def devbox_yml(project, serve: str, extra: str = "") -> str:
    """devbox.yml for the example: `serve` is its `app: ...` or `command: ...` line."""
    return (f"name: {project.name}\nimage: {project.image}\n{serve}\n"
            f"ports: ['{project.port}:{CONTAINER_PORT}']\n{extra}")


class Served:
    """A foreground `devbox up -v` of the project as its devbox.yml says."""

    def __init__(self, project):
        self.project = project
        self.process = project.spawn("up", "-v")

    def output(self) -> str:
        return self.project.output(self.process)

    def printed(self) -> str:
        """What devbox printed, without the request log lines the waits cause."""
        return "\n".join(line for line in self.output().splitlines() if not REQUEST_LINE.match(line))

    def answer(self, path: str = "/"):
        """(status, body) of GET path, or None while nothing answers."""
        try:
            return http_get(self.project.url + path, timeout=5.0)
        except (OSError, http.client.HTTPException):
            return None

    def wait_text(self, text: str, path: str = "/", timeout: float = EDIT_TIMEOUT, first=False) -> float:
        """Wait until GET path answers 200 with `text` in its body; seconds waited. `first`: no
        save has been made yet, so devbox's error page is final."""
        started = time.monotonic()
        self._wait(path, lambda status, body: status == 200 and text in body, timeout,
                   f"GET {path} answering 200 with {text!r}", final_error_page=first)
        return time.monotonic() - started

    def wait_error_page(self, path: str = "/", timeout: float = EDIT_TIMEOUT) -> str:
        """Wait for devbox's error page (status 500) on GET path; its body."""
        return self._wait(path, lambda status, body: status == 500 and ERROR_PAGE_MARK in body, timeout,
                          f"GET {path} answering devbox's error page")

    def _wait(self, path, done, timeout, what, final_error_page=False) -> str:
        def settled():
            if self.process.poll() is not None:
                return (-1, f"devbox up exited with status {self.process.returncode}")
            seen = self.answer(path)
            return seen if seen and (done(*seen) or (final_error_page and ERROR_PAGE_MARK in seen[1])) else None

        status, body = wait_until(settled, timeout, 0.005, what)
        assert done(status, body), (f"{what}, got {status} instead:\n{body[:2000]}\n"
                                    f"--- devbox up printed (requests left out):\n{self.printed()[-4000:]}")
        return body

    def started(self, text: str, path: str = "/") -> "Served":
        """Wait for the first page and for the watcher (a save before it starts would be lost)."""
        self.wait_text(text, path, START_TIMEOUT, first=True)
        wait_until(lambda: "watching" in self.output(), 10, 0.02, "devbox up watching")
        return self

    def edit(self, relpath: str, old: str, new: str) -> float:
        """Replace `old` by `new` in the project's file; the monotonic time of the save."""
        path = self.project.root / relpath
        text = path.read_text()
        assert old in text, f"{old!r} not in {relpath}"
        path.write_text(text.replace(old, new))
        return time.monotonic()

    def served_edit(self, relpath: str, old: str, new: str, expect: str = "", path: str = "/",
                    timeout: float = EDIT_TIMEOUT) -> float:
        """Replace `old` by `new` in the file and wait until GET path serves `expect` (default: `new`
        without its quotes); seconds from the save until then."""
        self.edit(relpath, old, new)
        return self.wait_text(expect or new.strip("'\""), path, timeout)

    def reload_times_ms(self):
        """The times devbox printed on its reload lines, in order."""
        return [int(m.group(2)) for m in RELOAD_LINE.finditer(self.output())]

    def wait_reload_lines(self, count: int, timeout: float = 10.0):
        return wait_until(lambda: len(self.reload_times_ms()) >= count and self.reload_times_ms(),
                          timeout, 0.02, f"{count} reload line(s)")


def assert_truthful(printed_ms, waited_ms):
    """The printed time covers the save until the new code answered: it may exceed what the
    client measured (the client starts later, at the write) but not fall far short of it."""
    assert waited_ms - printed_ms <= max(300, waited_ms / 2), (
        f"devbox printed {printed_ms} ms; a client waited {waited_ms:.0f} ms for the new code")
