"""Lifecycle commands (`hooks.*`, devcontainer.json's `*Command` keys) run at the spec's moments.

The order is HOOK_MOMENTS: `initialize` on the host before every start; `on_create`,
`update_content`, `post_create` once, when the container is new; `post_start` at every start;
`post_attach` at each `devbox up`. The hooks of one moment run in parallel (the object form); a
hook that fails ends the chain (the spec: later commands are not run), said in one line. The app
waits for `wait_for`'s moment (see devbox.gate); a failed chain starts it anyway, so the user
sees what it does.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, Mapping, Optional, Sequence

from devbox import events
from devbox.config.model import HOOK_MOMENTS
from devbox.logs import split_lines

Report = Callable[..., None]
# The moments whose commands can run before the app starts in the container.
CONTAINER_MOMENTS = ("on_create", "update_content", "post_create", "post_start")
CREATE_MOMENTS = ("on_create", "update_content", "post_create")


def gated(config) -> bool:
    """Whether the app must wait for container commands: some run at or before `wait_for`."""
    hooks = config.hooks
    if hooks.wait_for not in CONTAINER_MOMENTS:
        return False
    due = CONTAINER_MOMENTS[:CONTAINER_MOMENTS.index(hooks.wait_for) + 1]
    return any(hooks.at(moment) for moment in due)


def start_moments(created: bool) -> tuple:
    """The container moments of a start: the creation ones only for a new container."""
    return (CREATE_MOMENTS if created else ()) + ("post_start",)


class Lifecycle:
    """One `up`'s run of the chain: `host()` before the start, `container(...)` after it. Once a
    hook failed, nothing later runs."""

    def __init__(self, config, report: Report):
        self.config = config
        self.report = report
        self.failed = False

    def host(self, environ: Optional[Mapping[str, str]] = None) -> None:
        """`initialize`, on the host, in the project's folder."""
        env = dict(os.environ if environ is None else environ)
        self._moment("initialize", lambda hook: run_on_host(hook, str(self.config.root), env, self._output(hook)))

    def container(self, run: Callable[..., int], moments: Sequence[str],
                  release: Optional[Callable[[], None]] = None) -> None:
        """`moments` in the container through `run(argv, on_output) -> exit status`; `release()`
        once `wait_for`'s moment is done or the chain failed, before any later moment."""
        last = HOOK_MOMENTS.index(self.config.hooks.wait_for)
        for moment in moments:
            if release is not None and (self.failed or HOOK_MOMENTS.index(moment) > last):
                release()
                release = None
            self._moment(moment, lambda hook: run(hook.command, self._output(hook)))
        if release is not None:
            release()

    def _moment(self, moment: str, run: Callable) -> None:
        hooks = self.config.hooks.at(moment)
        if self.failed or not hooks:
            return
        self.report(events.HOOK_RUN, moment=moment, labels=[hook.label for hook in hooks])
        statuses = parallel(hooks, run)
        for hook, status in zip(hooks, statuses):
            if status != 0:
                self.report(events.HOOK_FAILED, moment=moment, label=hook.label, status=status)
                self.failed = True

    def _output(self, hook) -> Callable[[str], None]:
        return lambda line: self.report(events.HOOK_OUTPUT, label=hook.label, line=line)


def parallel(hooks: Sequence, run: Callable) -> list:
    """`run(hook)` for each hook at once (the spec's object form); their exit statuses, in order.
    One alone runs in this thread."""
    if len(hooks) == 1:
        return [_status(run, hooks[0])]
    statuses: Dict[int, int] = {}
    threads = [threading.Thread(target=lambda i=i, hook=hook: statuses.__setitem__(i, _status(run, hook)),
                                name=f"hook-{hook.label}", daemon=True) for i, hook in enumerate(hooks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [statuses.get(i, -1) for i in range(len(hooks))]


def _status(run: Callable, hook) -> int:
    try:
        return int(run(hook))
    except OSError:  # the engine could not start it: what a shell says of a missing command
        return 127


def run_on_host(hook, cwd: str, env: Mapping[str, str], on_output: Callable[[str], None]) -> int:
    """A hook on this machine; its output line by line; its exit status."""
    try:
        process = subprocess.Popen(list(hook.command), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except OSError as exc:
        on_output(f"cannot run {hook.command[0]}: {exc.strerror or exc}")
        return 127
    for line in split_lines(iter(lambda: process.stdout.read1(65536), b"")):
        on_output(line)
    return process.wait()


def exec_runner(client, container_id: str, user: Optional[str], workdir: str, env: Mapping[str, str]):
    """`run(argv, on_output) -> exit status` for commands in a container, as `user` (the engine's
    default when None), in `workdir`, with `env`: how every container hook runs."""

    def run(argv: Iterable[str], on_output: Callable[[str], None]) -> int:
        created = client.api.exec_create(container_id, list(argv), user=user or "", workdir=workdir,
                                         environment=dict(env), stdout=True, stderr=True)
        for line in split_lines(client.api.exec_start(created["Id"], stream=True)):
            on_output(line)
        return _exit_code(client, created["Id"])

    return run


def _exit_code(client, exec_id: str, timeout: float = 5.0) -> int:
    """The exec's exit status. Its output can end a moment before the engine records the
    status, so a still-running exec is looked at again for a little while."""
    deadline = time.monotonic() + timeout
    while True:
        info = client.api.exec_inspect(exec_id)
        if not info.get("Running") or time.monotonic() > deadline:
            code = info.get("ExitCode")
            return -1 if code is None else int(code)
        time.sleep(0.01)


def _ignore(line: str) -> None:
    pass


@dataclass(frozen=True)
class Place:
    """Where container hooks run: as `user` (None: the container's), in `workdir` ("": the
    container's), with `env` added; `gated`: the container's supervisor waits for devbox.gate."""

    user: Optional[str] = None
    workdir: str = ""
    env: Mapping[str, str] = field(default_factory=dict)
    gated: bool = False

    @classmethod
    def of_spec(cls, spec) -> "Place":
        return cls(user=spec.user, workdir=spec.workdir, env=dict(spec.env), gated=spec.gated)

    def runner(self, client, container, as_root: bool = False):
        if as_root:
            return exec_runner(client, container.id, "0", self.workdir, {})
        return exec_runner(client, container.id, self.user, self.workdir, self.env)


def after_start(client, container, place: Place, lifecycle: Lifecycle, created: bool, user_update=None) -> None:
    """What follows a container's start: a new container's home directory given to the updated
    uid (devbox.remote_user), the container moments of this start, and the gate opened (as root)
    at `wait_for`'s moment."""
    from devbox import gate, remote_user

    as_root = place.runner(client, container, as_root=True)
    if user_update is not None:
        as_root(remote_user.chown_home_argv(user_update), _ignore)
    release = (lambda: as_root(gate.release_argv(), _ignore)) if place.gated else None
    lifecycle.container(place.runner(client, container), start_moments(created), release)


def attach(client, container, place: Place, lifecycle: Lifecycle) -> None:
    """`post_attach`, at each `devbox up`; a gate left closed (a devbox that went away before it
    opened it) is opened, or the app would never start."""
    from devbox import gate

    if place.gated:
        place.runner(client, container, as_root=True)(gate.release_argv(if_waiting=True), _ignore)
    lifecycle.container(place.runner(client, container), ("post_attach",))
