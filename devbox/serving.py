"""The watch side of a running project: its watcher made from devbox.yml, and what a saved
devbox.yml means while it runs (applied as a second `devbox up` would, or a restart asked for)."""

from __future__ import annotations

from typing import Callable, Optional

from devbox import events
from devbox.errors import DevboxError
from devbox.interfaces import Report


def path_filter(cfg):
    from devbox import filters

    return filters.PathFilter(cfg.root, ignore=cfg.watch.ignore, no_reload=cfg.watch.no_reload,
                              rebuild=cfg.watch.rebuild)


def new_watcher(cfg, report: Report, on_batch=None, start: bool = True):
    """The project's watcher, started (unless not `start`: then its `start()` is the caller's):
    changes are collected from then on, acted on in `run()`. A saved devbox.yml asks for a
    restart unless the caller sets `on_config` to apply it."""
    from devbox.watch import Watcher

    watcher = Watcher(cfg.root, cfg.watch.paths, path_filter(cfg), cfg.watch.debounce_ms,
                      on_batch=on_batch or (lambda batch: None),
                      on_unchanged=lambda paths: report(events.UNCHANGED, paths=paths), config_file=cfg.path,
                      on_config=restart_needed(cfg, report), on_error=action_failed(report),
                      on_loop=lambda path: report(events.FEEDBACK_LOOP, path=path),
                      on_polling=lambda reason, paths: report(events.WATCH_POLLING, reason=reason, paths=paths),
                      on_unreadable=lambda path: report(events.WATCH_UNREADABLE, path=path))
    if start:
        watcher.start()
    return watcher


class Starting:
    """`watcher.start()` (its inotify watches, the probe of its events, the hash of every
    watched file) in a thread, while the engine creates the container: `join()` before the app
    starts, so no save made once it runs is missed. `join()` raises what `start()` raised, and
    returns the watcher. With `make` instead of a watcher, the watcher is made in that thread
    too (its imports and filters, ~30 ms, then overlap the engine's answers)."""

    def __init__(self, watcher=None, make: Optional[Callable[[], object]] = None):
        import threading

        self.watcher = watcher
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, args=(make,), name="watch-start", daemon=True)
        self._thread.start()

    def _run(self, make) -> None:
        try:
            if make is not None:
                self.watcher = make()
            self.watcher.start()
        except BaseException as exc:  # noqa: BLE001 - handed to the thread that joins
            self._error = exc

    def join(self):
        self._thread.join()
        error, self._error = self._error, None
        if error is not None:
            raise error
        return self.watcher


def heal(patient, watcher, engine, cfg, report: Report, act, lock=None):
    """Heal `patient` (devbox.recovery) from the engine's event stream (devbox.engine_watch),
    the watcher's batches going to `act` through its guard. Returns the started Recovery."""
    from devbox.engine_watch import label_filter
    from devbox.recovery import Recovery

    healing = Recovery(patient, report, engine.url, watcher.stop_event, action_failed(report),
                       lock=lock if lock is not None else getattr(patient, "lock", None))
    watcher.on_batch = healing.guard(act)
    return healing.start(engine.client, label_filter(cfg))


def stopping_first(healing, stop: Callable[[], float]) -> Callable[[], float]:
    """`stop`, once healing has stopped: devbox's own stopping of the containers is no news."""
    return lambda: healing.close() + stop()


def action_failed(report: Report) -> Callable:
    """The watcher's on_error: an action that raised is reported in one line, the watch goes on."""
    return lambda batch, exc: report(events.ACTION_FAILED, paths=batch.paths, error=one_line(exc))


def one_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text and isinstance(exc, DevboxError) else f"{type(exc).__name__}: {text[0] if text else ''}"


def restart_needed(cfg, report: Report) -> Callable:
    """The on_config of `devbox run` and compose projects: a changed meaning asks for a restart."""
    return lambda batch: changed_config(cfg, report) and report(events.CONFIG_RESTART,
                                                                reason="not applied while running")


def changed_config(old, report: Report):
    """devbox.yml read again: the new config when it means something else than `old`, else None
    (a broken file is reported, an unchanged meaning only at -v)."""
    from devbox import config

    try:
        new = config.load(old.path)
    except DevboxError as exc:
        report(events.CONFIG_INVALID, error=str(exc))
        return None
    if new.to_dict() == old.to_dict():
        report(events.CONFIG_UNCHANGED)
        return None
    return new


def restart_reason(old, new, forwarded: bool) -> Optional[str]:
    """Why `new` cannot be applied to a running single container, or None when it can."""
    if new.name != old.name:
        return "the project's name changed"
    if new.compose:
        return "it now describes a compose project"
    if forwarded and new.ports != old.ports:
        return "the forwarded ports changed"
    if new.live_reload != old.live_reload:  # the proxy holds the host ports the container then wants
        return "live_reload changed"
    return None


def apply_config(target, watcher, report: Report, forwarded: bool) -> None:
    """devbox.yml changed under a running `devbox up`: what `devbox up` would do with it, which
    recreates the container only when its config hash changed; the watcher takes the new watch
    settings. A broken file is reported and the running app kept."""
    old = target.session.config
    new = changed_config(old, report)
    if new is None:
        return
    reason = restart_reason(old, new, forwarded)
    if reason:
        report(events.CONFIG_RESTART, reason=reason)
        return
    recreated = target.reconfigure(new)
    watcher.reconfigure(new.watch.paths, path_filter(new), new.watch.debounce_ms)
    urls = target.session.plan().urls
    report(events.CONFIG_APPLIED, recreated=recreated, url=urls[0] if urls else "(no published port)")
