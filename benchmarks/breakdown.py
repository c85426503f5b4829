"""Where devbox's reload time goes, stage by stage, natively and in a container.

Runs devbox's own watcher and target in this process (the code `devbox run` and `devbox up` run)
with a timestamp at each hand-over, while a client polls for the new body as in the benchmark:

  save -> watcher batch       inotify, watchfiles' debounce/step, the content check
  batch -> SIGHUP sent        classification; the Docker API call for a container
  SIGHUP -> child ready       the supervisor's own figure: fork/exec, interpreter start, app import
  save -> served              what the client sees (the benchmark's metric)
  ready -> event read         the ready event's trip through the supervisor's output (a pipe, or
                              the Docker log stream) to devbox's reader: it delays devbox's
                              "reloaded in N ms" line and the next batch, not the response

Needs devbox and its dependencies importable (benchmarks/.venv has them):
`benchmarks/.venv/bin/python -m benchmarks.breakdown [--edits N] [--container] [--heavy] [--json]`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks import containers, probe, proctree
from benchmarks.measure import free_port
from benchmarks.project import Project, marker

STAGES = (
    ("watcher_ms", "save -> watcher batch (inotify, debounce, content check)"),
    ("signal_ms", "batch -> SIGHUP sent (to PID 1 directly, or through the Docker API)"),
    ("sighup_ready_ms", "SIGHUP -> new child ready (the supervisor's own figure)"),
    ("served_ms", "save -> new body at the client"),
    ("event_delay_ms", "ready -> ready event read by devbox (its log stream)"),
)


class Timeline:
    """Wall-clock marks of the current edit, set from the watcher thread."""

    def __init__(self):
        self.marks = {}
        self.lock = threading.Lock()

    def mark(self, name, at=None):
        with self.lock:
            self.marks.setdefault(name, time.time() if at is None else at)


def build(root: Path, container: bool, report, timeline: Timeline, image: str):
    """(target, cleanup) for `devbox run` or `devbox up` on the project at `root`."""
    from devbox import config

    cfg = config.load(root / "devbox.yml")
    if container:
        from devbox import engine
        from devbox.session import Session
        from devbox.targets import ContainerTarget

        session = Session(cfg, engine.connect(), report=report)
        box, stream = session.up()
        target = ContainerTarget(session, box, stream, report)

        def cleanup():
            session.down()
    else:
        from devbox.targets import ProcessTarget

        target = ProcessTarget(cfg, report)
        if target.wait_ready() is None:
            raise RuntimeError("devbox's supervisor did not start")

        def cleanup():
            target.stop()
    send = target.send_reload

    def timed_send():
        timeline.mark("sighup")
        send()
        timeline.mark("sent")

    target.send_reload = timed_send
    return cfg, target, cleanup


def run(edits: int, container: bool, heavy: bool, image: str) -> dict:
    from devbox import filters
    from devbox.watch import Watcher

    proctree.make_sigint_default()
    workdir = Path(tempfile.mkdtemp(prefix="reload-breakdown-"))
    site = workdir / "site"
    project = Project(workdir / "app", heavy=heavy, site=site).create()
    os.environ["PYTHONPATH"] = str(site)
    port = free_port()
    name = f"bench-breakdown-{os.getpid()}"
    if container:
        containers.build_image(image, os.environ.get("DEVBOX_IMAGE", "devbox-python:bookworm"), site, name)
    (project.root / "devbox.yml").write_text(f"name: {name}\nimage: {image}\napp: app:app\n"
                                             f'ports: ["127.0.0.1:{port}:8000"]\n')
    project.write("v0")
    timeline = Timeline()
    ready_events = []

    def report(event, **fields):
        if event == "supervisor" and fields.get("kind") == "ready":
            ready_events.append((time.time(), fields))

    cfg, target, cleanup = build(project.root, container, report, timeline, image)
    rows = []
    try:
        path_filter = filters.PathFilter(cfg.root, ignore=cfg.watch.ignore, no_reload=cfg.watch.no_reload,
                                         rebuild=cfg.watch.rebuild)

        def on_batch(batch):
            timeline.mark("batch")
            target.act(batch)

        watcher = Watcher(cfg.root, cfg.watch.paths, path_filter, cfg.watch.debounce_ms, on_batch=on_batch)
        watcher.prime()
        thread = threading.Thread(target=watcher.run, daemon=True)
        thread.start()
        if probe.wait_for_body(port, marker("v0"), 60) is None:
            raise RuntimeError("devbox did not serve")
        time.sleep(1.0)
        for n in range(1, edits + 1):
            timeline = _fresh(timeline)
            seen = len(ready_events)
            version = f"v{n}"
            project.write(version)
            t0 = time.time()
            served = probe.wait_for_body(port, marker(version), 10)
            served_at = time.time() if served is not None else None
            deadline = time.monotonic() + 5
            while len(ready_events) <= seen and time.monotonic() < deadline:
                time.sleep(0.005)
            rows.append(_row(t0, served_at, timeline.marks, ready_events[seen] if len(ready_events) > seen else None))
            time.sleep(random.uniform(0.4, 0.8))
        watcher.stop_event.set()
        thread.join(5)
    finally:
        cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
        if container:
            containers.remove(f"{name}-devbox")
            containers.remove_image(image)
    return {"container": container, "heavy": heavy, "edits": rows, "median": medians(rows)}


def _fresh(timeline: Timeline) -> Timeline:
    with timeline.lock:
        timeline.marks = {}
    return timeline


def _row(t0, served_at, marks, ready) -> dict:
    row = {"served_ms": _ms(served_at, t0)}
    row["watcher_ms"] = _ms(marks.get("batch"), t0)
    row["signal_ms"] = _ms(marks.get("sent"), marks.get("batch"))
    if ready is not None:
        arrived, fields = ready
        row["sighup_ready_ms"] = float(fields.get("ms", 0))
        if "sent" in marks:
            # The signal arrives somewhere between the call and its return: count from the return.
            row["event_delay_ms"] = _ms(arrived, marks["sent"] + row["sighup_ready_ms"] / 1000.0)
    return row


def _ms(later, earlier):
    if later is None or earlier is None:
        return None
    return round((later - earlier) * 1000.0, 1)


def medians(rows) -> dict:
    out = {}
    for key, _ in STAGES:
        values = [r[key] for r in rows if r.get(key) is not None]
        out[key] = round(statistics.median(values), 1) if values else None
    return out


def render(result: dict) -> str:
    where = "devbox up (container)" if result["container"] else "devbox run (native)"
    lines = [f"| stage, {where}{', heavy import' if result['heavy'] else ''} | median |", "|---|---:|"]
    for key, label in STAGES:
        value = result["median"][key]
        lines.append(f"| {label} | {'–' if value is None else f'{value:.0f} ms'} |")
    return "\n".join(lines)


def collect(python: str, edits: int, container: bool, heavy: bool, log_path: Path) -> dict:
    """Run this module with `python` (one that has devbox) in its own process group; its result,
    or {"error": ...}."""
    import subprocess

    args = [python, "-m", "benchmarks.breakdown", "--json", "--edits", str(edits)]
    args += ["--container"] * container + ["--heavy"] * heavy
    repo = Path(__file__).resolve().parent.parent
    with open(log_path, "wb") as log:
        process = subprocess.Popen(args, cwd=str(repo), stdout=subprocess.PIPE, stderr=log, start_new_session=True)
        try:
            out, _ = process.communicate(timeout=120 + 10 * edits)
        except subprocess.TimeoutExpired:
            proctree.end_group(process.pid, process)
            return {"error": f"timed out (see {log_path})"}
    try:
        return json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": f"exit status {process.returncode} (see {log_path})"}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.breakdown", description=__doc__.split("\n")[0])
    parser.add_argument("--edits", type=int, default=10)
    parser.add_argument("--container", action="store_true", help="devbox up instead of devbox run")
    parser.add_argument("--heavy", action="store_true", help="the app imports the ~0.4 s module")
    parser.add_argument("--image", default=f"devbox-bench:breakdown-{os.getpid()}")
    parser.add_argument("--json", action="store_true", help="print the raw result as JSON")
    args = parser.parse_args(argv)
    result = run(args.edits, args.container, args.heavy, args.image)
    print(json.dumps(result) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
