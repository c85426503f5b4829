"""The `devbox` command: the only module that prints or chooses exit codes."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import List, Optional

from devbox import __version__
from devbox.errors import DevboxError, UsageError
from devbox.supervisor import protocol

PREFIX = protocol.LOG_PREFIX
APP_PREFIX = "[app]   "


class Console:
    """Renders session/watcher events: one line per event, quiet by default, more with -v."""

    def __init__(self, verbose: bool = False, out=None, service: str = ""):
        self.verbose = verbose
        self.out = out or sys.stdout
        self.lock = threading.Lock()
        self.serving_reported = False
        self.width = len(PREFIX)  # compose: widened to fit the longest "[service]" tag
        self._local = threading.local()  # the compose service of the event being rendered

    def say(self, text: str) -> None:
        service = getattr(self._local, "service", None)
        with self.lock:
            print(f"{PREFIX} {service + ': ' if service else ''}{text}", file=self.out, flush=True)

    def raw(self, text: str) -> None:
        with self.lock:
            print(text, file=self.out, flush=True)

    def __call__(self, event: str, service: Optional[str] = None, **f) -> None:
        handler = getattr(self, f"on_{event}", None)
        self._local.service = service  # events of a compose service say which one
        try:
            if handler is not None:
                handler(**f)
            elif self.verbose:
                self.say(f"{event} {f}")
        finally:
            self._local.service = None

    def tag(self) -> str:
        """The prefix of an app output line: [app], or [web] for a compose service."""
        service = getattr(self._local, "service", None)
        return f"[{service}]".ljust(self.width) if service else APP_PREFIX

    # -- image and container ---------------------------------------------------------------
    def on_image(self, image, how):
        self.say(f"image {image} ({how})" if how == "cached" else f"{how} image {image}")

    def on_pull(self, image, status, id=""):
        if self.verbose:
            self.say(f"pull {image}: {id} {status}".rstrip())

    def on_build(self, line):
        if self.verbose or line.startswith("Step "):
            self.raw(line)

    def on_built(self, image, seconds):
        self.say(f"image {image} built in {seconds:.1f} s")

    def on_container(self, name, how, spec):
        self.say(f"container {name} {how}" + (f" ({spec.sync} sync)" if self.verbose else ""))

    # -- supervisor output -------------------------------------------------------------------
    def on_line(self, line):
        if line.startswith(PREFIX):
            if self.verbose:
                self.raw(line if self.tag() == APP_PREFIX else f"{self.tag()} {line}")
        else:
            self.raw(f"{self.tag()} {line}")

    def on_supervisor(self, kind, **f):
        if kind == protocol.EVENT_CRASHED:
            self.say(f"✗ {f.get('summary') or 'the app exited with status ' + str(f.get('status'))}; "
                     "the app shows the error page until the next save")
        elif self.verbose:
            self.say(f"supervisor {kind} {f}")

    # -- watcher ---------------------------------------------------------------------------------
    def on_watching(self, paths, files):
        where = ", ".join(paths)
        self.say(f"watching {where} ({files:,} files; .gitignore and .dockerignore applied)")

    def on_reloaded(self, paths, ms, **f):
        stages = ""
        if self.verbose and "batch_ms" in f:
            stages = (f" (save->batch {f['batch_ms']:.0f}, ->SIGHUP {f['signal_ms']:.0f}, "
                      f"respawn {f.get('supervisor_ms', 0):.0f}, ready->log line +{f['log_ms']:.0f} ms)")
        self.say(f"↻ {describe(paths)} -> reloaded in {ms:.0f} ms{stages}")

    def on_reload_failed(self, paths, ms, **f):
        pass  # the crashed event already said it, with the reason

    def on_reload_timeout(self, paths, seconds):
        self.say(f"↻ {describe(paths)} -> no new child within {seconds:.0f} s; see the output above")

    def on_synced(self, paths):
        self.say(f"~ {describe(paths, verb='synced')} (no restart)")

    def on_unchanged(self, paths):
        if self.verbose:
            self.say(f"= {describe(paths, verb='saved')} without changes; no reload")

    def on_rebuilding(self, paths):
        self.say(f"⚙ {describe(paths)} -> rebuilding image")

    def on_rebuilt(self, seconds):
        self.say(f"image rebuilt in {seconds:.1f} s, container recreated, serving again")

    def on_rebuild_unchanged(self, seconds):
        self.say(f"image unchanged ({seconds:.1f} s); container kept, reloading")

    def on_config_applied(self, recreated, url):
        self.say(f"⚙ devbox.yml changed -> container recreated, serving {url}" if recreated
                 else "⚙ devbox.yml changed -> applied (the container did not need to change)")

    def on_config_unchanged(self):
        if self.verbose:
            self.say("= devbox.yml changed, but not what it means; nothing to apply")

    def on_config_invalid(self, error):
        self.say(f"✗ {error}; still running the previous devbox.yml")

    def on_config_restart(self, reason):
        self.say(f"devbox.yml changed ({reason}); restart devbox to apply it")

    # -- remote engines (copy sync, ssh port forwards) ---------------------------------------------
    def on_copied(self, files, bytes, seconds, workdir):
        self.say(f"copied {files:,} files ({bytes / 1e6:.1f} MB) to {workdir} in {seconds:.2f} s")

    def on_sync_failed(self, paths, error):
        self.say(f"✗ {describe(paths)} but copying failed: {error}; the next save tries again")

    def on_forwarding(self, url, destination, remote_port, pid, detached):
        self.say(f"forwarding {url} over ssh to {destination} (its 127.0.0.1:{remote_port}; ssh pid {pid}"
                 + (", stopped by `devbox down`)" if detached else ")"))

    def on_forward_message(self, line, hint=""):
        self.say(f"✗ ssh: {line}" + (f" ({hint})" if hint else ""))

    def on_forward_lost(self, status, reason):
        self.say(f"✗ the ssh port forward ended ({reason}); the app is unreachable here until `devbox up` again")

    # -- compose ---------------------------------------------------------------------------------
    def on_compose_up(self, cli, project, file, services):
        self.width = max(len(PREFIX), *(len(name) + 2 for name in services))
        self.say(f"compose project {project} ({file}) starting with {cli}")

    def on_action_failed(self, paths, error):
        self.say(f"✗ {describe(paths)} -> {error}")

    def on_compose_unusable(self, error):
        self.say(f"compose could not run ({error}); removing the project by its labels instead")

    def on_compose(self, line):
        if self.verbose:
            self.raw(f"{'[compose]'.ljust(self.width)} {line}")


def describe(paths: List[str], verb: str = "changed") -> str:
    if len(paths) == 1:
        return f"{paths[0]} {verb}"
    shown = ", ".join(paths[:2])
    return f"{len(paths)} files {verb} ({shown}{', ...' if len(paths) > 2 else ''})"


# -- commands -----------------------------------------------------------------------------------

def load_config(args):
    from devbox import config

    cfg = config.load(Path(args.file) if args.file else None)
    for warning in cfg.warnings:
        print(f"devbox: warning: {warning}", file=sys.stderr, flush=True)
    return cfg


def connect():
    from devbox import engine

    return engine.connect()


def open_session(args, console):
    cfg = load_config(args)  # a bad devbox.yml is reported before anything else happens
    if cfg.compose:
        from devbox.compose import ComposeSession

        return ComposeSession(cfg, connect, report=console)  # connects when it needs the engine
    from devbox.session import Session

    return Session(cfg, connect(), report=console)


def cmd_init(args, console) -> int:
    from devbox import scaffold

    for line in scaffold.init(Path.cwd(), force=args.force, image=args.image):
        console.raw(line)
    console.raw("next: devbox up")
    return 0


def cmd_up(args, console) -> int:
    session = open_session(args, console)
    if session.config.compose:
        return compose_up(args, console, session)
    forwarding = None
    if session.engine.forwards_ports:  # ssh:// engine: its ports are forwarded to this machine
        from devbox.tunnel import Forwarding

        forwarding = Forwarding(session.engine.url, session.config.name, report=console)
        forwarding.prepare(session.plan().forwards)
    # Watching starts before the app does, so a save made while it starts is not lost.
    watcher = None if args.detach else new_watcher(session.config, console)
    container, stream = session.up()
    spec = session.plan()
    if forwarding is not None:
        try:
            forwarding.open(container, spec.forwards, detach=args.detach)
        except BaseException:  # no URL: leave nothing running (the container is kept for the next up)
            session.stop()
            raise
    url = spec.urls[0] if spec.urls else "(no published port)"
    if args.detach:
        console.say(f"serving {url}  (detached: `devbox logs -f`, `devbox down`)")
        return 0
    from devbox.targets import ContainerTarget

    on_recreated = (lambda new: forwarding.refresh(new, spec.forwards)) if forwarding else None
    target = ContainerTarget(session, container, stream, console, on_recreated=on_recreated)
    watcher.on_batch = target.act
    watcher.on_config = lambda batch: apply_config(target, watcher, console, forwarding is not None)
    console.say(f"serving {url}  (Ctrl-C to stop)")
    return watch_until_interrupted(session.config, target, console, watcher=watcher,
                                   stop=lambda: session.stop() + (forwarding.close() if forwarding else 0.0))


def apply_config(target, watcher, console, forwarded: bool) -> None:
    """devbox.yml changed under a running `devbox up`: what `devbox up` would do with it, which
    recreates the container only when its config hash changed; the watcher takes the new watch
    settings. A broken file is reported and the running app kept."""
    old = target.session.config
    new = changed_config(old, console)
    if new is None:
        return
    reason = ("the project's name changed" if new.name != old.name else
              "it now describes a compose project" if new.compose else
              "the forwarded ports changed" if forwarded and new.ports != old.ports else None)
    if reason:
        console("config_restart", reason=reason)
        return
    recreated = target.reconfigure(new)
    watcher.reconfigure(new.watch.paths, path_filter(new), new.watch.debounce_ms)
    urls = target.session.plan().urls
    console("config_applied", recreated=recreated, url=urls[0] if urls else "(no published port)")


def changed_config(old, console):
    """devbox.yml read again: the new config when it means something else than `old`, else None
    (a broken file is reported, an unchanged meaning only at -v)."""
    from devbox import config

    try:
        new = config.load(old.path)
    except DevboxError as exc:
        console("config_invalid", error=str(exc))
        return None
    if new.to_dict() == old.to_dict():
        console("config_unchanged")
        return None
    return new


def cmd_run(args, console) -> int:
    from devbox.targets import ProcessTarget

    cfg = load_config(args)
    if not (cfg.app or cfg.command):
        raise UsageError("`devbox run` needs `app:` or `command:` in devbox.yml")
    watcher = new_watcher(cfg, console)
    target = ProcessTarget(cfg, console)
    watcher.on_batch = target.act
    event = target.wait_ready()
    if event is None:
        code = target.process.poll()
        target.stop()
        raise DevboxError(f"the supervisor did not start (exit status {code})", "see its output above")
    url = f"http://127.0.0.1:{cfg.ports[0].host_port}" if cfg.ports else "(no port)"
    console.say(f"serving {url} natively  (Ctrl-C to stop)")
    return watch_until_interrupted(cfg, target, console, stop=target.stop, watcher=watcher)


def watch_until_interrupted(cfg, target, console, stop, watcher=None) -> int:
    """Watch the project and drive `target` (or run `watcher`, already wired to its targets)
    until Ctrl-C/SIGTERM; then `stop()` and say how long."""
    if watcher is None:
        watcher = new_watcher(cfg, console, on_batch=target.act)
    watcher.config_file = watcher.config_file or cfg.path
    watcher.on_config = watcher.on_config or (  # `devbox run` and compose projects: say so
        lambda batch: changed_config(cfg, console) and console("config_restart", reason="not applied while running"))
    watcher.on_error = watcher.on_error or (lambda batch, exc: console("action_failed", paths=batch.paths,
                                                                        error=_one_line(exc)))
    console("watching", paths=watcher.rel_paths, files=watcher.start())
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        watcher.run()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        watcher.stop_event.set()
        seconds = stop()
        console.say(f"stopped in {seconds:.1f} s")
    return 0


def path_filter(cfg):
    from devbox import filters

    return filters.PathFilter(cfg.root, ignore=cfg.watch.ignore, no_reload=cfg.watch.no_reload,
                              rebuild=cfg.watch.rebuild)


def new_watcher(cfg, console, on_batch=None):
    """The project's watcher, started: changes are collected from now on, acted on in `run()`."""
    from devbox.watch import Watcher

    watcher = Watcher(cfg.root, cfg.watch.paths, path_filter(cfg), cfg.watch.debounce_ms,
                      on_batch=on_batch or (lambda batch: None),
                      on_unchanged=lambda paths: console("unchanged", paths=paths), config_file=cfg.path,
                      on_error=lambda batch, exc: console("action_failed", paths=batch.paths, error=_one_line(exc)))
    watcher.start()
    return watcher


def _one_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text and isinstance(exc, DevboxError) else f"{type(exc).__name__}: {text[0] if text else ''}"


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def cmd_down(args, console) -> int:
    session = open_session(args, console)
    started = time.monotonic()
    removed = session.down(volumes=args.volumes)
    if session.engine.forwards_ports:
        from devbox import tunnel

        stopped = tunnel.release(session.config.name, session.engine.url)
        if stopped is not None:
            console.say(f"stopped the ssh port forward of {', '.join(stopped.urls)} (pid {stopped.pid})")
    if removed:
        console.say(f"removed {', '.join(removed)} in {time.monotonic() - started:.1f} s")
    else:
        console.say(f"nothing to remove: {session.config.name} is not up")
    return 0


def cmd_status(args, console) -> int:
    session = open_session(args, console)
    rows = session.status()
    if not rows:
        console.raw(f"{session.config.name}  not created  (start it with `devbox up`)")
        return 0
    if session.engine.forwards_ports:  # the engine's own bindings are on the VM: show the forward
        from devbox import tunnel

        forward = tunnel.find(session.config.name, session.engine.url)
        for row in rows:
            row["urls"] = forward.urls if forward else ["(not forwarded here: `devbox up`)"]
    for row in rows:
        sup = row["supervisor"]
        parts = [row["name"], row["state"], " ".join(row["urls"]) or "-", f"image {row['image']}"]
        if row["state"] == "running":
            parts.append(f"up {_ago(row['started_at'])}")
        if row.get("supervised") is False:
            parts.append("not supervised")
        if sup:
            latencies = sorted(sup.get("last_reload_ms") or [])
            p50 = f" (p50 {latencies[len(latencies) // 2]:.0f} ms)" if latencies else ""
            parts.append(f"reloads {sup.get('reloads', 0)}{p50}")
            if sup.get("state") == protocol.STATE_CRASHED:
                parts.append("app crashed: showing the error page")
        console.raw("  ".join(parts))
    return 0


def _ago(started_at: str) -> str:
    import datetime as dt

    try:
        stamp = dt.datetime.fromisoformat(started_at[:26].rstrip("Z") + "+00:00" if "." not in started_at
                                          else started_at.split(".")[0] + "+00:00")
    except ValueError:
        return "?"
    seconds = (dt.datetime.now(dt.timezone.utc) - stamp).total_seconds()
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def cmd_logs(args, console) -> int:
    session = open_session(args, console)
    if session.config.compose:
        try:
            session.logs(args.services, args.follow, args.tail,
                         on_line=lambda label, line: console.raw(f"{('[' + label + ']'):<{console.width}} {line}"))
        except KeyboardInterrupt:
            pass
        return 0
    if args.services:
        raise UsageError(f"{session.config.name} has no compose services; run `devbox logs` without names")
    container = session.container()
    if container is None:
        raise DevboxError(f"{session.config.name} is not up", "start it with `devbox up`")
    stream = container.logs(stream=True, follow=args.follow, tail=args.tail if args.tail is not None else "all")
    out = sys.stdout.buffer
    try:
        for chunk in stream:
            out.write(chunk)
            out.flush()
    except KeyboardInterrupt:
        pass
    return 0


def cmd_exec(args, console) -> int:
    session = open_session(args, console)
    if session.config.compose:
        if not args.cmd:
            raise UsageError("name the service: `devbox exec SERVICE [COMMAND...]`")
        argv = session.exec_argv(args.cmd[0], args.cmd[1:], tty=sys.stdin.isatty() and sys.stdout.isatty())
        os.execvpe(argv[0], argv, session.cli.environ)
    container = session.running()
    command = args.cmd or ["sh"]
    docker_cli = shutil.which("docker")
    if docker_cli:
        flags = ["-i"] + (["-t"] if sys.stdin.isatty() and sys.stdout.isatty() else [])
        env = dict(os.environ, DOCKER_HOST=session.engine.url)
        os.execve(docker_cli, ["docker", "exec", *flags, container.id, *command], env)
    result = container.exec_run(command, workdir=session.config.workdir)
    sys.stdout.buffer.write(result.output)
    return result.exit_code


def cmd_reload(args, console) -> int:
    session = open_session(args, console)
    if session.config.compose:
        for label, ms in session.reload(args.service).items():
            console.say(f"↻ {label} reloaded in {ms:.0f} ms")
        return 0
    if args.service:
        raise UsageError(f"{session.config.name} has no compose services; run `devbox reload` without a name")
    ms = session.reload(wait=True)
    console.say(f"↻ reloaded in {ms:.0f} ms")
    return 0


def compose_up(args, console, session) -> int:
    """`devbox up` for a compose project: compose starts it, devbox watches and reloads per service."""
    running = session.up()
    for service, urls in running.urls.items():
        console.say(f"{service}: serving {urls[0] if urls else '(port not published)'}")
    for service in running.unsupervised:
        console.say(f"{service}: running as compose runs it (not supervised)")
    if args.detach:
        console.say("detached: `devbox logs -f`, `devbox down`")
        return 0
    console.say("Ctrl-C to stop")
    watcher = session.watcher(running, on_unchanged=lambda paths: console("unchanged", paths=paths))
    return watch_until_interrupted(session.config, None, console, stop=session.stop, watcher=watcher)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="devbox", description="Develop Python web apps inside Docker "
                                     "containers, reloaded the instant you save.")
    parser.add_argument("--version", action="version", version=f"devbox {__version__}")
    parser.add_argument("-f", "--file", help="the devbox.yml to use (default: searched upward from here)")
    parser.add_argument("-v", "--verbose", action="store_true", help="say more")
    # The same options after the command; SUPPRESS keeps a value given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--file", default=argparse.SUPPRESS, help="the devbox.yml to use")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="say more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("init", parents=[common], help="write devbox.yml and docker/Dockerfile here")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.add_argument("--image", default="python:3.12-slim", help="base image (default python:3.12-slim)")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("up", parents=[common], help="serve the app from a container, reloading on save")
    p.add_argument("-d", "--detach", action="store_true", help="start and return; no watcher")
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("run", parents=[common], help="serve the app natively (no Docker), reloading on save")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("down", parents=[common], help="stop and remove the project's containers")
    p.add_argument("--volumes", action="store_true", help="remove their anonymous volumes too")
    p.set_defaults(func=cmd_down)

    p = sub.add_parser("status", parents=[common], help="state, URL, image, uptime, reloads")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("logs", parents=[common], help="the container's output")
    p.add_argument("-f", "--follow", action="store_true", help="keep following")
    p.add_argument("--tail", type=int, default=None, help="only the last N lines")
    p.add_argument("services", nargs="*", help="compose: only these services (default: all)")
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser("exec", parents=[common], help="run a command in the container")
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="command and arguments (default: sh)")
    p.set_defaults(func=cmd_exec)

    p = sub.add_parser("reload", parents=[common], help="reload the app now (SIGHUP to the supervisor)")
    p.add_argument("service", nargs="?", help="compose: the service to reload (default: every supervised one)")
    p.set_defaults(func=cmd_reload)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    console = Console(verbose=args.verbose)
    try:
        return args.func(args, console)
    except DevboxError as exc:
        print(f"devbox: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    except KeyboardInterrupt:
        print("devbox: interrupted; nothing left running", file=sys.stderr, flush=True)
        return 130
    except Exception as exc:  # noqa: BLE001 - only a lost engine is turned into a line
        if not _engine_lost(exc):
            raise
        print(f"devbox: lost the Docker engine mid-command ({type(exc).__name__}); is it still running? "
              "`devbox status` shows what is left", file=sys.stderr, flush=True)
        return 1


def _engine_lost(exc: BaseException) -> bool:
    """The engine went away under a command (socket gone, connection refused or reset)."""
    import requests

    while exc is not None:  # docker-py wraps the socket's error: look down the chain
        if isinstance(exc, (requests.exceptions.ConnectionError, ConnectionError)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False
