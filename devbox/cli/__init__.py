"""The `devbox` command: the only package that prints or chooses exit codes (the commands here,
the rendering of events in console.py)."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

from devbox import __version__, events
from devbox.cli import agent as agent_cli
from devbox.cli.console import Console, labelled
from devbox.config_file import config_path
from devbox.errors import DevboxError, UsageError

if TYPE_CHECKING:  # pragma: no cover - not imported at run time: `devbox status` starts faster
    from devbox.interfaces import Project

# -- commands -----------------------------------------------------------------------------------

def load_config(args, console: Optional[Console] = None):
    """The project's config; a devcontainer.json says that it is the one used (to `console`,
    which also names it in its reload lines)."""
    from devbox import config

    cfg = config.load(Path(args.file) if args.file else None)
    for warning in cfg.warnings:
        print(f"devbox: warning: {warning}", file=sys.stderr, flush=True)
    if console is not None:
        console.use_config(cfg)
    return cfg


def connect():
    from devbox import engine

    return engine.connect()


def open_project(args, console) -> "Project":
    """The project its config file describes, reporting to the console's bus."""
    return make_project(load_config(args, console), console.bus)  # a bad config is reported before anything else


def make_project(cfg, report) -> "Project":
    """A compose project or a single container (an interfaces.Project either way)."""
    if cfg.compose:
        from devbox.compose import ComposeSession

        return ComposeSession(cfg, connect, report=report)  # connects when it needs the engine
    from devbox.session import Session

    return Session(cfg, connect(), report=report)


def cmd_init(args, console) -> int:
    from devbox import scaffold

    if args.from_devcontainer is None:
        from devbox.config.model import DEFAULT_IMAGE  # here: the config package is slow to import

        lines = scaffold.init(Path.cwd(), force=args.force, image=args.image or DEFAULT_IMAGE)
    else:
        source = Path(args.from_devcontainer) if args.from_devcontainer else None
        lines = scaffold.from_devcontainer(Path.cwd(), source, force=args.force)
    for line in lines:
        console.raw(line)
    console.raw("next: devbox up")
    return 0


def cmd_up(args, console) -> int:
    if args.detach and not args.agent:  # the agent reads devbox.yml too: start it first
        code = agent_cli.up_detached(args, console, config_path(args.file), lambda: load_config(args, console))
        # Serving, said and flushed: the agent is its own process, and this one holds nothing
        # more than its connection to it; tearing its interpreter down took ~100 ms.
        args.finished = code == 0
        return code
    return agent_cli.up(args, console, load_config(args, console), make_project)


def cmd_run(args, console) -> int:
    from devbox import serving, urls
    from devbox.targets import ProcessTarget

    cfg = load_config(args, console)
    if not (cfg.app or cfg.command):
        raise UsageError(f"`devbox run` needs `app:` or `command:` in {cfg.path.name}")
    watcher = serving.new_watcher(cfg, console.bus)
    target = ProcessTarget(cfg, console.bus)
    watcher.on_batch = target.act
    event = target.wait_ready()
    if event is None:
        code = target.process.poll()
        target.stop()
        raise DevboxError(f"the supervisor did not start (exit status {code})", "see its output above")
    url = urls.http_url(ProcessTarget.HOST, cfg.ports[0].host_port) if cfg.ports else "(no port)"
    console.say(f"serving {url} natively  (Ctrl-C to stop)")
    return watch_until_interrupted(watcher, console, stop=target.stop)


def watch_until_interrupted(watcher, console, stop) -> int:
    """Run `watcher` (started, wired to its targets) until Ctrl-C/SIGTERM; then `stop()` and say
    how long."""
    console.bus(events.WATCHING, paths=watcher.rel_paths, files=watcher.start())
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


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def cmd_down(args, console) -> int:
    project = open_project(args, console)
    started = time.monotonic()
    agent_cli.stop_agent(project.config, console)
    removed = project.down(volumes=args.volumes)
    if removed:
        console.say(f"removed {', '.join(removed)} in {time.monotonic() - started:.1f} s")
    else:
        console.say(f"nothing to remove: {project.config.name} is not up")
    return 0


def cmd_status(args, console) -> int:
    """From the agent when one runs (no Docker SDK import, tens of ms), else from the engine."""
    path = config_path(args.file)
    answered = agent_cli.agent_status(path)
    port_label = lambda port: None  # noqa: E731 - only a devcontainer.json labels ports
    if answered is not None:
        name, agent, rows = answered
        if path.suffix == ".json":  # its portsAttributes: worth reading the config for
            port_label = load_config(args).port_label
    else:
        cfg = load_config(args)
        name, agent, rows, port_label = cfg.name, None, make_project(cfg, console.bus).status(), cfg.port_label
    if args.json:
        console.raw(json.dumps({"project": name, "agent": agent.to_dict() if agent else None,
                                "containers": [row.to_dict() for row in rows]}, indent=2))
        return 0
    if not rows:
        console.raw(f"{name}  not created  (start it with `devbox up`)")
    for row in rows:
        console.raw(status_line(row, port_label))
    if agent is not None:
        console.raw(agent_line(agent))
    elif rows:
        console.raw("agent  not running: saves are not watched  (`devbox up -d` starts one)")
    return 0


def agent_line(agent) -> str:
    """The `devbox status` line of the project's agent (an AgentStatus)."""
    p50 = agent.reload_p50_ms
    parts = ["agent", f"pid {agent.pid}", f"up {_ago(agent.uptime_s)}",
             f"reloads {agent.reloads}" + (f" (p50 {p50:.0f} ms)" if p50 is not None else "")]
    if agent.log:
        parts.append(f"log {agent.log}")
    if agent.live and list(agent.live) != [""]:  # compose: the proxies' own URLs (a container's is its row's)
        parts.append("live reload " + ", ".join(f"{label} {url}" for label, url in agent.live.items()))
    if agent.dashboard:
        parts.append(f"dashboard {agent.dashboard}")
    if agent.failure:
        parts.append(f"✗ {agent.failure}")
    return "  ".join(parts)


def status_line(row, port_label=lambda port: None) -> str:
    """One `devbox status` line for a ContainerStatus; `port_label(container port)` names a URL
    (devcontainer.json's portsAttributes)."""
    parts = [row.name, row.state, " ".join(labelled(url, port_label(row.url_ports[url]) if url in row.url_ports else None)
                                           for url in row.urls) or "-", f"image {row.image}"]
    if row.running:
        parts.append(f"up {_ago(row.uptime_s)}")
    if row.supervised is False:
        parts.append("not supervised")
    if row.supervisor:
        p50 = row.reload_p50_ms
        parts.append(f"reloads {row.reloads}" + (f" (p50 {p50:.0f} ms)" if p50 is not None else ""))
        if row.crashed:
            parts.append("app crashed: showing the error page")
    return "  ".join(parts)


def _ago(seconds: Optional[float]) -> str:
    if seconds is None:
        return "?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def cmd_logs(args, console) -> int:
    project = open_project(args, console)
    out = sys.stdout.buffer

    def show(label, data):
        if label is None:  # raw bytes, as the container wrote them
            out.write(data)
            out.flush()
        else:
            console.raw(f"{('[' + label + ']'):<{console.width}} {data}")

    try:
        if not (args.follow and agent_cli.follow_logs(args, console, project.config, project)):
            project.logs(args.services, args.follow, args.tail, on_output=show)
    except KeyboardInterrupt:
        pass
    return 0


def cmd_events(args, console) -> int:
    return agent_cli.cmd_events(args, console, config_path(args.file))


def cmd_open(args, console) -> int:
    return agent_cli.cmd_open(args, console, config_path(args.file))


def cmd_wait(args, console) -> int:
    return agent_cli.cmd_wait(args, console, config_path(args.file))


def cmd_exec(args, console) -> int:
    project = open_project(args, console)
    run = project.exec(args.cmd, tty=sys.stdin.isatty() and sys.stdout.isatty())
    if run.argv:
        os.execvpe(run.argv[0], run.argv, run.env if run.env is not None else os.environ)
    sys.stdout.buffer.write(run.output)
    return run.exit_code


def cmd_reload(args, console) -> int:
    project = open_project(args, console)
    for label, ms in project.reload(args.service).items():
        console.say(f"↻ {label} reloaded in {ms:.0f} ms" if label else f"↻ reloaded in {ms:.0f} ms")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="devbox", description="Develop Python web apps inside Docker "
                                     "containers, reloaded the instant you save.")
    parser.add_argument("--version", action="version", version=f"devbox {__version__}")
    parser.add_argument("-f", "--file", help="the devbox.yml or devcontainer.json to use (default: devbox.yml "
                        "searched upward from here, else .devcontainer/devcontainer.json)")
    parser.add_argument("-v", "--verbose", action="store_true", help="say more")
    # The same options after the command; SUPPRESS keeps a value given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--file", default=argparse.SUPPRESS, help="the devbox.yml or devcontainer.json to use")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="say more")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("init", parents=[common], help="write devbox.yml and docker/Dockerfile here")
    p.add_argument("--force", action="store_true", help="overwrite existing files")
    p.add_argument("--image", default=None, help="base image (default: devbox.yml's `image` default)")
    p.add_argument("--from-devcontainer", nargs="?", const="", default=None, metavar="PATH",
                   help="write the devbox.yml equivalent to .devcontainer/devcontainer.json (or PATH)")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("up", parents=[common], help="serve the app from a container, reloading on save")
    p.add_argument("-d", "--detach", action="store_true",
                   help="leave the agent (watcher and reloader) running in the background and return once it serves")
    p.add_argument("--agent", action="store_true", help=argparse.SUPPRESS)  # what `up -d` starts
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("run", parents=[common], help="serve the app natively (no Docker), reloading on save")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("down", parents=[common], help="stop and remove the project's containers")
    p.add_argument("--volumes", action="store_true", help="remove their anonymous volumes too")
    p.set_defaults(func=cmd_down)

    p = sub.add_parser("status", parents=[common], help="state, URL, image, uptime, reloads; the agent")
    p.add_argument("--json", action="store_true", help="as JSON (the status dataclasses' fields)")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("events", parents=[common], help="the agent's events, one JSON object per line")
    p.add_argument("--since", type=int, default=None, metavar="SEQ",
                   help="first the events after this sequence number that the agent still holds (0: all)")
    p.set_defaults(func=cmd_events)

    p = sub.add_parser("open", parents=[common], help="open the agent's dashboard in the browser")
    p.set_defaults(func=cmd_open)

    p = sub.add_parser("wait", parents=[common],
                       help="return once what is on disk serves (exit 0) or failed to load (exit 1)")
    p.add_argument("--timeout", type=float, default=60.0, metavar="S",
                   help="give up after S seconds (exit 124; default 60)")
    p.set_defaults(func=cmd_wait)

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


def main(argv: Optional[List[str]] = None, leave_when_finished: bool = False) -> int:
    """The command's exit code. With `leave_when_finished` (the `devbox` program), a command
    that says it left nothing to do here (`args.finished`) ends the process at once, its output
    flushed, without the interpreter's teardown."""
    parser = build_parser()
    args = parser.parse_args(argv)
    console = Console(verbose=args.verbose)
    code = _run(args, console)
    if leave_when_finished and getattr(args, "finished", False):
        from devbox.supervisor.primitives import flush_and_exit

        flush_and_exit(code)
    return code


def program() -> int:
    """The `devbox` program (its console script, `python -m devbox`)."""
    return main(leave_when_finished=True)


def _run(args, console) -> int:
    try:
        return args.func(args, console)
    except DevboxError as exc:
        print(f"devbox: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    except KeyboardInterrupt:
        print("devbox: interrupted; nothing left running", file=sys.stderr, flush=True)
        return 130
    except Exception as exc:  # only a lost engine is turned into a line
        if not _engine_lost(exc):
            raise
        print(f"devbox: lost the Docker engine mid-command ({type(exc).__name__}); is it still running? "
              "`devbox status` shows what is left", file=sys.stderr, flush=True)
        return 1


def _engine_lost(exc: BaseException) -> bool:
    """The engine went away under a command (socket gone, connection refused or reset)."""
    from devbox.recovery import engine_lost

    return engine_lost(exc)
