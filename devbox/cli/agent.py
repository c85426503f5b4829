"""The commands that run or talk to a project's agent (devbox/agent/): `up` in its three ways
(run the agent here, start it detached, attach to the running one), `status`, `events`, `wait`,
and the agent's part of `down` and `logs -f`. Printing and exit codes only; the work is in
devbox.agent."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Optional

from devbox import events
from devbox.agent.control import AgentClient
from devbox.agent.home import AgentHome
from devbox.errors import DevboxError

WAIT_EXIT_TIMEOUT = 124  # as timeout(1)
SPAWN_TIMEOUT_S = 15.0  # for a started agent to listen
SETTLE_TIMEOUT_S = 300.0  # for a running agent to act on what is on disk (a rebuild may take minutes)
ERROR_PREFIX = "devbox: "  # how main() prints a DevboxError: an agent's last words


def client_of(path: Path) -> Optional[AgentClient]:
    """The running agent of the project whose devbox.yml is `path`, or None."""
    return AgentClient.connect(AgentHome.for_path(path))


def needed_client(path: Path) -> AgentClient:
    client = client_of(path)
    if client is None:
        raise DevboxError(f"no agent runs for {path}", "start one with `devbox up -d` (or `devbox up`)")
    return client


# -- up ----------------------------------------------------------------------------------------

def up(args, console, cfg, make_project) -> int:
    """`devbox up [-d]`: attach to the project's agent when one runs (a second agent is never
    started: it would watch and reload the same containers twice); else run the agent here,
    or start it in the background and return once it serves."""
    home = AgentHome.for_path(cfg.path)
    if not args.agent:
        client = AgentClient.connect(home)
        if client is not None:
            return already_up(client, console, attach=not args.detach)
        if args.detach:
            return start_detached(home, cfg, console, verbose=args.verbose)
    from devbox.agent.runner import Agent, AgentRunning

    agent = Agent(home, open_project=lambda report: make_project(cfg, report), bus=console.bus,
                  detached=args.agent, name=cfg.name, config_path=str(cfg.path),
                  dashboard_port=cfg.dashboard.port)
    try:
        agent.run()
    except AgentRunning:  # another `up` took the lock between our look and our start
        if args.agent:
            raise
        client = wait_for_agent(home, process=None)
        return already_up(client, console, attach=not args.detach)
    return 0


def up_detached(args, console, path: Path, load_config) -> int:
    """`devbox up -d`: the agent is started before devbox.yml is read here (it reads and checks
    it itself, and imports and connects meanwhile), so the file's checks and this process's
    imports are not on the way to the first response. A broken file is said here all the same
    (the agent, failing on it too, exits)."""
    home = AgentHome.for_path(path)
    client = AgentClient.connect(home)
    if client is not None:
        load_config()
        return already_up(client, console, attach=False)
    from devbox.agent import detach

    # What the agent imports, imported here: a forked agent has it already (detach.fork).
    import devbox.agent.runner
    import devbox.config
    import devbox.session  # noqa: F401
    from devbox.cli import main
    from devbox.docker_adapter import import_docker
    from devbox.engine import may_use_ssh

    import_docker(ssh=may_use_ssh(os.environ))
    argv = ["--file", str(path), *(["-v"] if args.verbose else []), "up", "--agent"]
    process = detach.fork(home, path, lambda: main(argv)) or detach.spawn(home, path, verbose=args.verbose)
    load_config()
    return show_start(home, process, console)


def already_up(client: AgentClient, console, attach: bool) -> int:
    """A second `up`: once the agent has acted on what is on disk (a saved devbox.yml applied
    as this `up` would apply it), say where it serves, then follow it or return."""
    hello = client.request("hello")
    where = f"pid {hello['pid']}" + (f", log {hello['log']}" if hello.get("log") else "")
    settled = client.request("wait", read_timeout=SETTLE_TIMEOUT_S + 5.0, timeout=SETTLE_TIMEOUT_S)
    if settled.get("error"):
        console.say(f"✗ {settled['error']}")
    status = client.request("status")
    for row in status.get("containers", []):
        console.say(f"{row['name']}: {' '.join(row['urls']) or row['state']}")
    if (status.get("agent") or {}).get("dashboard"):
        console.say(f"dashboard {status['agent']['dashboard']}  (`devbox open` opens it)")
    if not attach:
        console.say(f"already up: agent {where}; `devbox logs -f` follows it, `devbox down` stops it")
        return 0
    console.say(f"attached to the agent already serving this project ({where}); "
                "Ctrl-C detaches, `devbox down` stops it")
    try:
        for record in records(client):
            console.record(record)
    except KeyboardInterrupt:
        console.say("detached; the agent keeps running")
    return 0


def records(client: AgentClient, since: Optional[int] = None):
    """The agent's bus records from now (or after `since`) until it stops."""
    stream = client.stream("events", since=since)
    next(stream)  # the answer: subscribed
    for record in stream:
        yield record
        if record.get("event") == events.AGENT_STOPPED:
            return


def start_detached(home: AgentHome, cfg, console, verbose: bool) -> int:
    """Start the agent in the background and show what it says until it serves (or fails)."""
    from devbox.agent import detach

    return show_start(home, detach.spawn(home, cfg.path, verbose=verbose), console)


def show_start(home: AgentHome, process, console) -> int:
    """What a started agent says until it serves (0), or its failure as a DevboxError."""
    client = wait_for_agent(home, process)
    for record in records(client, since=0):
        console.record(record)
        if record["event"] == events.SERVING:
            return 0
        if record["event"] == events.AGENT_FAILED:
            raise DevboxError(str(record.get("error")))
    raise DevboxError(f"the agent stopped before serving: {last_line(home)}", f"see {home.log}")


def wait_for_agent(home: AgentHome, process) -> AgentClient:
    deadline = time.monotonic() + SPAWN_TIMEOUT_S
    while True:
        client = AgentClient.connect(home)
        if client is not None:
            return client
        if process is not None and process.poll() is not None:
            said = last_line(home)
            if said.startswith(ERROR_PREFIX):  # it failed before we could listen: what it said
                raise DevboxError(said[len(ERROR_PREFIX):])
            raise DevboxError(f"the agent exited at start: {said}", f"see {home.log}")
        if time.monotonic() >= deadline:
            raise DevboxError(f"the agent did not listen within {SPAWN_TIMEOUT_S:g} s", f"see {home.log}")
        time.sleep(0.02)


def last_line(home: AgentHome) -> str:
    try:
        lines = [line for line in home.log.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no output"
    return lines[-1] if lines else "no output"


# -- status, events, wait -------------------------------------------------------------------------

def agent_status(path: Path):
    """(project name, AgentStatus, [ContainerStatus]) from the running agent, or None when none
    runs. The path that answers this reads no devbox.yml and imports nothing of the Docker SDK."""
    from devbox.status import AgentStatus, ContainerStatus

    client = client_of(path)
    if client is None:
        return None
    answer = client.request("status")
    return (answer.get("project", ""), AgentStatus.from_dict(answer["agent"]),
            [ContainerStatus.from_dict(row) for row in answer.get("containers", [])])


def cmd_events(args, console, path: Path) -> int:
    client = needed_client(path)
    out = sys.stdout
    try:
        for record in records(client, since=args.since):
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
            out.flush()
    except (KeyboardInterrupt, BrokenPipeError):
        pass
    return 0


def cmd_open(args, console, path: Path) -> int:
    """`devbox open`: the dashboard in the user's browser (its URL logs the browser in); the URL
    printed when no browser can be started here."""
    import webbrowser

    agent = needed_client(path).request("status").get("agent") or {}
    url = agent.get("dashboard")
    if not url:
        raise DevboxError("the agent serves no dashboard", "start the project again with `devbox up`")
    try:
        opened = webbrowser.open(url)
    except webbrowser.Error:
        opened = False
    console.say(f"opened {url}" if opened else f"no browser to open here; open {url}")
    return 0


def cmd_wait(args, console, path: Path) -> int:
    client = needed_client(path)
    answer = client.request("wait", read_timeout=args.timeout + 5.0, timeout=args.timeout)
    state, error = answer["state"], answer.get("error") or ""
    if state == "settled":
        if args.verbose:
            console.say("serving what is on disk")
        return 0
    if state == "timeout":
        print(f"devbox: not settled within {args.timeout:g} s" + (f": {error}" if error else ""), file=sys.stderr)
        return WAIT_EXIT_TIMEOUT
    print(f"devbox: {error.splitlines()[0] if error else state}", file=sys.stderr, flush=True)
    return 1


# -- down, logs -f -------------------------------------------------------------------------------

def stop_agent(cfg, console) -> None:
    """Stop the project's agent, if one runs, and wait until its process is gone."""
    from devbox.agent import detach
    from devbox.agent.lock import AgentLock

    home = AgentHome.for_path(cfg.path)
    client = AgentClient.connect(home)
    pid = None
    if client is not None:
        pid = client.request("stop")["pid"]
        gone = detach.wait_gone(pid, detach.STOP_TIMEOUT_S) or detach.terminate(pid)
    elif home.dir.is_dir() and AgentLock(home.lock).held_elsewhere():  # starting, or not answering
        pid = home.read_info().get("pid")
        gone = bool(pid) and detach.terminate(pid)
    else:
        return
    if not gone:
        raise DevboxError(f"the agent (pid {pid}) did not stop", f"`kill -9 {pid}`")
    console.say(f"stopped the agent (pid {pid})")


def follow_logs(args, console, cfg, project) -> bool:
    """`devbox logs -f` while an agent runs: the containers' past output, then the agent's
    records rendered as `devbox up` renders them (its reload lines among the app's). False
    when no agent runs."""
    from devbox.logs import split_lines

    client = client_of(cfg.path)
    if client is None:
        return False
    # Subscribe before reading the past, so nothing falls between the two (a line written in
    # that instant may show twice).
    stream = client.stream("events")
    next(stream)
    chunks, lines = [], []
    project.logs(args.services, False, args.tail,
                 on_output=lambda label, data: chunks.append(data) if label is None else lines.append((label, data)))
    for line in split_lines(chunks):
        console.bus(events.LINE, line=line)
    for label, line in lines:
        console.bus(events.LINE, service=label, line=line)
    try:
        for record in stream:
            if args.services and record.get("service") not in args.services:
                continue
            console.record(record)
            if record.get("event") == events.AGENT_STOPPED:
                break
    except KeyboardInterrupt:
        pass
    return True
