"""The watcher under test: a Watcher on a project tree, and a Loop that runs one in a thread and
records its batches (shared by the watcher's unit tests through tests/unit/conftest.py)."""

import threading
import time

from devbox import filters
from devbox.watch import Batch, Watcher
from tests.waiting import wait_until


def new_watcher(root, paths=(".",), **kw):
    path_filter = filters.PathFilter(root, rebuild=("requirements*.txt", "Dockerfile"), no_reload=("templates/**",))
    return Watcher(root, paths, path_filter, kw.pop("debounce_ms", 50), on_batch=kw.pop("on_batch", lambda b: None), **kw)


class Loop:
    """A Watcher running in a thread, recording its batches; `act_s` is how long each action takes."""

    def __init__(self, root, act_s=0.05, **kw):
        self.batches = []
        self.acting = threading.Lock()
        self.act_s = act_s
        self.watcher = new_watcher(root, on_batch=self._on_batch, **kw)
        self.files = self.watcher.start()
        self.errors = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.watcher.run()
        except BaseException as exc:  # noqa: BLE001 - the test asserts there were none
            self.errors.append(exc)

    def _on_batch(self, batch: Batch):
        self.batches.append((time.time(), batch))
        if self.act_s:
            time.sleep(self.act_s)  # stands for a reload: the time a real action takes

    def wait_for(self, rel, timeout=5.0):
        """The first batch naming `rel`, once there is one."""
        return wait_until(lambda: next((b for _, b in self.batches if rel in b.paths), None), timeout, 0.005,
                          f"a batch with {rel}")

    def stop(self):
        self.watcher.stop_event.set()
        self.thread.join(5)
        assert not self.thread.is_alive() and not self.errors
