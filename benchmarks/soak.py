"""Soak: a real container project under `devbox up -d`, reloaded N times by saves while four
clients request it, and what the supervisor's processes look like before and after; then the
idle cost of the whole tree and `devbox up -d` to the first response beside `docker run`.

    python -m benchmarks.soak [--reloads 1000] [--idle 60] [--starts 5] [--start-up] [--readme]

- reloads: each one is a save of app.py (truncate and write, a new version in its body, its size
  and mtime changed), acted on by devbox's watcher as any save is (not `devbox reload`); the
  next save is made 0.15-0.25 s after the new body is served (or after 10 s: never served).
- clients: four threads, each requesting `/` on a new connection every 5 ms, all along the
  reloads; a refused or reset connection, a timeout or a 5xx answer is a failed request.
- processes: the supervisor (PID 1 of the container), the warm template, the standby child and
  the serving child, found from the supervisor's status file through /proc/PID/root; open fds
  and RSS of each at the start and at the end of the reloads; zombies anywhere in the
  container's tree or under the agent.
- idle CPU: user+system clock ticks (and the scheduler's run time, /proc/PID/schedstat, to the
  nanosecond) of each process and all its threads over the idle window, once the tree has been
  quiet for 5 s; % of one core. The tree is the agent (devbox's host process) plus the
  container's processes; the containerd shim is shown beside it (it is the engine's).
- start-up: `devbox up -d` (image cached, no container yet) until the first 200 of a client that
  starts asking once it returns, and `docker run -d` of the same image serving the same app
  with wsgiref, until its first 200 (a new attempt every 10 ms from its return, so one attempt
  caught in the engine's network set-up does not count); medians of --starts runs, interleaved.
  `--start-up` runs only this part (7 runs unless --starts says otherwise).
- bytecode on the host: devbox runs under two stated conditions, interleaved. "cached": its
  modules' bytecode cached as a pip install leaves it (compiled once, into a pycache prefix dir
  of the benchmark's: `compileall` of devbox, then one warm-up `up -d`/`down` for the standard
  library and the dependencies it imports). "cold": the same caches without devbox's own, read
  under PYTHONDONTWRITEBYTECODE=1, so devbox's modules are compiled from source at every start,
  as for an editable install in a shell that sets it. devbox itself never overrides the user's
  bytecode settings.

Needs a Docker engine and $DEVBOX_IMAGE (scripts/engine builds it); removes what it made.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Dict, List, Optional

from benchmarks import facts, probe, proctree
from benchmarks.project import Project
from devbox.supervisor import protocol

HERE = Path(__file__).resolve().parent
README_START, README_END = "<!-- soak:start -->", "<!-- soak:end -->"
CLIENTS = 4
CLIENT_INTERVAL = 0.005
SERVE_TIMEOUT = 10.0
GAP_S = (0.15, 0.25)  # after each served save, before the next one
QUIET_S = 5.0
STATUS_FILE = protocol.DEFAULT_STATUS_FILE  # in the container, read through /proc/PID/root
WSGIREF = ("from wsgiref.simple_server import make_server\n"
           "def app(environ, start_response):\n"
           "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
           "    return [b'ok']\n"
           "make_server('0.0.0.0', 8000, app).serve_forever()\n")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def docker(*args: str, check: bool = True) -> str:
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=120)
    if check and done.returncode:
        raise SystemExit(f"docker {' '.join(args[:2])}: {done.stderr.strip()[-300:]}")
    return done.stdout.strip()


def first_200(port: int, timeout: float = 30.0, every: float = 0.01) -> Optional[float]:
    """Monotonic time of the first 200 on `port`: a new attempt every `every` s while earlier
    ones wait (at most 50 at once), each with its own connection."""
    done, found = threading.Event(), []
    pending = threading.BoundedSemaphore(50)

    def attempt():
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2.0)
            conn.request("GET", "/")
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                found.append(time.monotonic())
                done.set()
        except OSError:
            pass
        finally:
            pending.release()

    deadline = time.monotonic() + timeout
    while not done.is_set() and time.monotonic() < deadline:
        if pending.acquire(timeout=every):
            threading.Thread(target=attempt, daemon=True).start()
        done.wait(every)
    return min(found) if found else None


# -- processes ----------------------------------------------------------------------------------

def proc_stat(pid: int) -> Optional[List[str]]:
    try:
        with open(f"/proc/{pid}/stat") as f:
            raw = f.read()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2:].split()


def threads_cpu(pid: int) -> Dict[int, tuple]:
    """tid -> (utime+stime ticks, scheduler run time in ns) of every thread of `pid`."""
    found = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                raw = f.read()
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                ns = int(f.read().split()[0])
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        found[int(tid)] = (int(fields[11]) + int(fields[12]), ns)
    return found


def fds(pid: int) -> Optional[int]:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def rss_kib(pid: int) -> Optional[int]:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Served:
    """The project under `devbox up -d`: its agent and its container's processes."""

    def __init__(self, root: Path, name: str):
        self.root = root
        self.name = name
        self.container = f"{name}-devbox"

    def agent_pid(self) -> int:
        from devbox.agent.home import AgentHome

        return int(AgentHome.for_path(self.root / "devbox.yml").read_info()["pid"])

    def init_pid(self) -> int:
        return int(docker("inspect", "--format", "{{.State.Pid}}", self.container))

    def status(self) -> dict:
        with open(f"/proc/{self.init_pid()}/root{STATUS_FILE}") as f:
            return json.load(f)

    def host_pids(self) -> Dict[int, int]:
        """pid in the container -> pid on this machine, of the container's processes."""
        found = {}
        for pid in proctree.tree([self.init_pid()]):
            try:
                with open(f"/proc/{pid}/status") as f:
                    line = next(x for x in f if x.startswith("NSpid:"))
            except (OSError, StopIteration):
                continue
            found[int(line.split()[-1])] = pid
        return found

    def roles(self) -> Dict[str, Optional[int]]:
        """role -> host pid: devbox's host process and the supervisor's processes."""
        status, host = self.status(), self.host_pids()
        inner = lambda key: host.get(status.get(key))  # noqa: E731 - the status file has the container's pids
        return {"agent (host)": self.agent_pid(), "supervisor": self.init_pid(),
                "template": inner("template_pid"), "standby child": inner("standby_pid"),
                "serving child": inner("child_pid")}

    def shim_pid(self) -> Optional[int]:
        fields = proc_stat(self.init_pid())
        return int(fields[1]) if fields else None

    def zombies(self) -> List[int]:
        pids = proctree.tree([self.init_pid(), self.agent_pid()])
        return [pid for pid in pids if (proc_stat(pid) or ["?"])[0] == "Z"]

    def snapshot(self) -> dict:
        roles = self.roles()
        return {"processes": {role: {"pid": pid, "fds": fds(pid) if pid else None,
                                     "rss_kib": rss_kib(pid) if pid else None}
                              for role, pid in roles.items()},
                "zombies": self.zombies(), "tree": len(proctree.tree([self.init_pid()]))}


def idle_cpu(served: Served, seconds: float) -> dict:
    """CPU of each process of the tree (all threads) over `seconds` of rest, once quiet."""
    wait_quiet(served)
    pids = {role: pid for role, pid in served.roles().items() if pid}
    pids["containerd shim (engine)"] = served.shim_pid()
    before = {role: threads_cpu(pid) for role, pid in pids.items() if pid}
    started = time.monotonic()
    time.sleep(seconds)  # the window measured: nothing is sent meanwhile
    wall = time.monotonic() - started
    rows = {}
    for role, pid in pids.items():
        if not pid:
            continue
        after = threads_cpu(pid)
        ticks = sum(t - before[role].get(tid, (0, 0))[0] for tid, (t, _) in after.items())
        ns = sum(n - before[role].get(tid, (0, 0))[1] for tid, (_, n) in after.items())
        rows[role] = {"pid": pid, "threads": len(after), "ticks": ticks,
                      "ticks_percent": 100.0 * ticks / proctree.CLOCK_TICKS / wall,
                      "sched_percent": 100.0 * ns / 1e9 / wall}
    return {"seconds": round(wall, 1), "rows": rows}


def wait_quiet(served: Served, limit: float = 60.0) -> None:
    """Until QUIET_S seconds pass with no tick used by the tree (a start's tail is not rest)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        pids = [p for p in served.roles().values() if p]
        meter = proctree.CpuMeter(lambda pids=pids: pids)
        meter.start()
        time.sleep(QUIET_S)
        if meter.stop()["cpu_s"] == 0:
            return


# -- the parts of the run ----------------------------------------------------------------------

def devbox_cmd(root: Path, *args: str, env: Optional[Dict[str, str]] = None) -> None:
    subprocess.run([sys.executable, "-m", "devbox", *args], cwd=root, check=True, capture_output=True,
                   timeout=120, env=env)


class Bytecode:
    """devbox's environments under the two bytecode conditions (the module docstring): "cached"
    and "cold", each with a pycache prefix dir of the benchmark's own under `work`."""

    CONDITIONS = {"cached": "bytecode cached, as after a pip install",
                  "cold": "devbox's modules compiled at every start (editable, PYTHONDONTWRITEBYTECODE=1)"}

    def __init__(self, work: Path):
        self.dirs = {name: work / f"pycache-{name}" for name in self.CONDITIONS}

    def env(self, condition: str, write: bool = False) -> Dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
        env["PYTHONPYCACHEPREFIX"] = str(self.dirs[condition])
        if not write:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        return env

    def prepare(self, image: str, work: Path) -> None:
        """Fill the "cached" dir (devbox compiled, then one warm-up start for what it imports of
        the standard library and its dependencies); "cold" is a copy without devbox's own."""
        package = HERE.parent / "devbox"
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], env=self.env("cached", write=True),
                       check=True, capture_output=True, timeout=300)
        root = work / "warm-up"
        Project(root).create().write("start")
        write_config(root, f"devbox-soak-{uuid.uuid4().hex[:6]}", image, free_port())
        try:
            devbox_cmd(root, "up", "-d", env=self.env("cached", write=True))
        finally:
            subprocess.run([sys.executable, "-m", "devbox", "down"], cwd=root, capture_output=True, timeout=120,
                           env=self.env("cached", write=True))
        cached, cold = self.dirs["cached"], self.dirs["cold"]
        shutil.copytree(cached, cold)
        shutil.rmtree(cold / package.relative_to(package.anchor), ignore_errors=True)


def write_config(root: Path, name: str, image: str, port: int) -> None:
    (root / "devbox.yml").write_text(f"name: {name}\nimage: {image}\napp: app:app\nports: ['{port}']\n")


def devbox_start_up(image: str, root: Path, env: Dict[str, str]) -> float:
    """Seconds from `devbox up -d` (a new project, image cached) to its first 200."""
    Project(root).create().write("start")
    port, name = free_port(), f"devbox-soak-{uuid.uuid4().hex[:6]}"
    write_config(root, name, image, port)
    started = time.monotonic()
    try:
        devbox_cmd(root, "up", "-d", env=env)
        served = first_200(port)
        if served is None:
            raise SystemExit(f"devbox up -d: no 200 on port {port} within 30 s")
        return served - started
    finally:
        subprocess.run([sys.executable, "-m", "devbox", "down"], cwd=root, capture_output=True, timeout=120, env=env)


def start_ups(image: str, work: Path, runs: int, say) -> dict:
    """`devbox up -d` -> first 200 under each bytecode condition and `docker run -d` -> first 200,
    `runs` times each, interleaved."""
    bytecode = Bytecode(work)
    bytecode.prepare(image, work)
    ups: Dict[str, List[float]] = {name: [] for name in Bytecode.CONDITIONS}
    runs_docker = []
    for n in range(runs):
        for condition in Bytecode.CONDITIONS:
            ups[condition].append(devbox_start_up(image, work / f"start{n}-{condition}", bytecode.env(condition)))
        port, container = free_port(), f"devbox-soak-run-{uuid.uuid4().hex[:6]}"
        started = time.monotonic()
        try:
            docker("run", "-d", "--name", container, "-p", f"127.0.0.1:{port}:8000", image, "python3", "-c", WSGIREF)
            served = first_200(port)
            if served is None:
                raise SystemExit(f"docker run: no 200 on port {port} within 30 s")
            runs_docker.append(served - started)
        finally:
            docker("rm", "-f", container, check=False)
        say(f"  start {n + 1}/{runs}: devbox up -d {ups['cached'][-1] * 1000:.0f} ms (cached), "
            f"{ups['cold'][-1] * 1000:.0f} ms (cold); docker run {runs_docker[-1] * 1000:.0f} ms")
    return {"devbox_up_ms": [round(u * 1000) for u in ups["cached"]],
            "devbox_up_cold_ms": [round(u * 1000) for u in ups["cold"]],
            "docker_run_ms": [round(d * 1000) for d in runs_docker]}


class Clients:
    """CLIENTS threads requesting `/` on new connections until stopped; their failures."""

    def __init__(self, port: int):
        self.clients = [probe.FailureClient(port, interval=CLIENT_INTERVAL, request_timeout=5.0)
                        for _ in range(CLIENTS)]

    def __enter__(self) -> "Clients":
        for client in self.clients:
            client.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        for client in self.clients:
            client.__exit__(*exc)

    def requests(self) -> int:
        return sum(c.log.requests for c in self.clients)

    def failures(self) -> List[dict]:
        return [f for c in self.clients for f in c.log.failures]


def reloads(project: Project, port: int, count: int, say) -> dict:
    latencies, missed = [], 0
    for n in range(1, count + 1):
        version = f"r{n}"
        t0 = project.write(version)
        served = probe.wait_for_body(port, project.marker(version), SERVE_TIMEOUT, interval=0.002)
        if served is None:
            missed += 1
        else:
            latencies.append((served - t0) * 1000.0)
        # A save made while devbox still finishes the last reload (its ready event on the way)
        # would be, ten times in a row, the loop of a file written by every reload (feedback.py).
        time.sleep(random.uniform(*GAP_S))
        if n % 100 == 0:
            say(f"  {n} reloads, p50 {statistics.median(latencies):.0f} ms" if latencies else f"  {n} reloads")
    return {"latencies_ms": latencies, "missed": missed}


# -- the table -----------------------------------------------------------------------------------

def pct(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100.0 * (len(ordered) - 1))))]


def render(result: dict) -> str:
    r = result
    lat = r["reloads"]["latencies_ms"]
    kinds: Dict[str, int] = {}
    for failure in r["failures"]:
        kinds[failure["outcome"]] = kinds.get(failure["outcome"], 0) + 1
    lines = [
        f"Run {r['date']}: {r['machine']['cpu']}, {r['machine']['cores']} cores, Linux {r['machine']['kernel']}; "
        f"load average {r['load_before']} before, {r['load_after']} after (the machine is shared). "
        f"devbox {r['commit']}, image {r['image']}, Docker engine {r['engine']}; {r['seconds']:.0f} s in all.",
        "",
        f"{r['reloads_asked']} reloads by saves of app.py (each waited for) under {CLIENTS} clients requesting `/` "
        f"every {CLIENT_INTERVAL * 1000:.0f} ms each"
        + (f": save→new body p50 {pct(lat, 50):.0f} ms, p95 {pct(lat, 95):.0f} ms, max {max(lat):.0f} ms"
           if lat else "") + f"; {r['reloads']['missed']} never served.",
        "",
        "| | at start | after the reloads |",
        "|---|---:|---:|",
        f"| failed requests (of {r['requests']}) | – | {len(r['failures'])}"
        + (f" ({', '.join(f'{k} {n}' for k, n in kinds.items())})" if kinds else "") + " |",
        f"| zombies (container tree and agent) | {len(r['start']['zombies'])} | {len(r['end']['zombies'])} |",
        f"| processes in the container | {r['start']['tree']} | {r['end']['tree']} |",
    ]
    for role in r["start"]["processes"]:
        a, b = r["start"]["processes"][role], r["end"]["processes"][role]
        note = " (a new process)" if a["pid"] != b["pid"] else ""
        lines.append(f"| {role}: fds / RSS{note} | {a['fds']} / {_mib(a['rss_kib'])} | "
                     f"{b['fds']} / {_mib(b['rss_kib'])} |")
    idle = r["idle"]
    tree = [row for role, row in idle["rows"].items() if "shim" not in role]
    lines += ["", f"Idle, {idle['seconds']:g} s window once the tree was quiet for {QUIET_S:g} s "
                  "(% of one core: clock ticks / scheduler run time):", "",
              "| process | threads | idle CPU (ticks) | idle CPU (run time) |", "|---|---:|---:|---:|"]
    for role, row in idle["rows"].items():
        lines.append(f"| {role} | {row['threads']} | {row['ticks_percent']:.3f}% | {row['sched_percent']:.4f}% |")
    lines.append(f"| **whole tree** (agent + container) | | **{sum(x['ticks_percent'] for x in tree):.3f}%** | "
                 f"**{sum(x['sched_percent'] for x in tree):.4f}%** |")
    lines += ["", render_start_ups(r["starts"])]
    return "\n".join(lines)


START_UP_HEAD = "Start-up, image cached"


def render_start_ups(s: dict, run: Optional[dict] = None) -> str:
    """The start-up table; `run` (date, load, commit...) heads it when it was run alone."""
    lines = []
    if run is not None:
        lines += [f"{START_UP_HEAD} (`--start-up` run {run['date']}: load average {run['load_before']} before, "
                  f"{run['load_after']} after; devbox {run['commit']}, image {run['image']}, Docker engine "
                  f"{run['engine']}):", ""]
    else:
        lines += [f"{START_UP_HEAD}:", ""]
    rows = [("`devbox up -d`, " + Bytecode.CONDITIONS["cached"], s["devbox_up_ms"])]
    if s.get("devbox_up_cold_ms"):
        rows.append(("`devbox up -d`, " + Bytecode.CONDITIONS["cold"], s["devbox_up_cold_ms"]))
    rows.append(("`docker run -d` (wsgiref, same image)", s["docker_run_ms"]))
    lines += [f"| start-up (median of {len(s['docker_run_ms'])}, interleaved) | first 200 | runs |", "|---|---:|---|"]
    lines += [f"| {label} | {statistics.median(ms):.0f} ms | {', '.join(map(str, ms))} |" for label, ms in rows]
    return "\n".join(lines) + "\n"


def replace_start_ups(section: str, table: str) -> str:
    """The soak section with its start-up part (from its head, or the older table's first row,
    to the end) replaced by `table`."""
    for head in (START_UP_HEAD, "| start-up, image cached"):
        at = section.find(head)
        if at >= 0:
            return section[:at] + table
    return section.rstrip("\n") + "\n\n" + table


def _mib(kib: Optional[int]) -> str:
    return "–" if kib is None else f"{kib / 1024:.1f} MiB"


def start_up_only(result: dict, readme: bool, say) -> int:
    """--start-up: the start-up table alone, written into the README's soak section in place of
    the one there (the rest of the section is the last full run's)."""
    result["load_after"] = facts.load_average()
    table = render_start_ups(result["starts"], run=result)
    save(result, "start-up")
    print(table)
    if readme:
        from benchmarks.__main__ import README

        text = README.read_text()
        start, end = text.find(README_START), text.find(README_END)
        if 0 <= start < end:
            section = text[start + len(README_START) + 1:end]
            README.write_text(text[:start + len(README_START) + 1] + replace_start_ups(section, table) + text[end:])
            say("benchmarks.soak: start-up table written to README.md")
    return 0


def save(result: dict, kind: str) -> None:
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(result, indent=1))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reloads", type=int, default=1000)
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of the idle window")
    parser.add_argument("--starts", type=int, help="up -d / docker run start-ups measured (default 5, 7 with "
                                                   "--start-up)")
    parser.add_argument("--start-up", action="store_true", help="measure the start-ups only")
    parser.add_argument("--readme", action="store_true", help="write the table into README.md")
    args = parser.parse_args(argv)
    if args.starts is None:
        args.starts = 7 if args.start_up else 5
    image = os.environ.get("DEVBOX_IMAGE", "devbox-python:bookworm")
    say = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    work = Path(tempfile.mkdtemp(prefix="devbox-soak-"))
    began = time.monotonic()
    result = {"date": facts.now(), "machine": facts.machine(), "load_before": facts.load_average(),
              "commit": facts.git_commit(HERE.parent), "image": image, "engine": docker("version", "--format",
                                                                                           "{{.Server.Version}}"),
              "reloads_asked": args.reloads}
    try:
        say(f"start-up: {args.starts} x devbox up -d (bytecode cached, then cold) and docker run")
        result["starts"] = start_ups(image, work, args.starts, say)
        if args.start_up:
            return start_up_only(result, args.readme, say)
        root = work / "soak"
        project = Project(root).create()
        project.write("r0")
        port, name = free_port(), f"devbox-soak-{uuid.uuid4().hex[:6]}"
        write_config(root, name, image, port)
        devbox_cmd(root, "up", "-d")
        served = Served(root, name)
        try:
            if probe.wait_for_body(port, project.marker("r0"), 30) is None:
                raise SystemExit("the soak project did not serve")
            probe.wait_for_body(port, project.marker("r0"), 1)
            say(f"idle: {args.idle:g} s")
            result["idle"] = idle_cpu(served, args.idle)
            result["start"] = served.snapshot()
            say(f"reloads: {args.reloads} under {CLIENTS} clients")
            with Clients(port) as clients:
                result["reloads"] = reloads(project, port, args.reloads, say)
            result["requests"], result["failures"] = clients.requests(), clients.failures()
            wait_quiet(served, limit=20)
            result["end"] = served.snapshot()
        finally:
            subprocess.run([sys.executable, "-m", "devbox", "down"], cwd=root, capture_output=True, timeout=120)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["load_after"] = facts.load_average()
    result["seconds"] = time.monotonic() - began
    text = render(result)
    save(result, "soak")
    print(text)
    if args.readme:
        from benchmarks.__main__ import update_readme

        if update_readme(text, README_START, README_END):
            say("benchmarks.soak: table written to README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
