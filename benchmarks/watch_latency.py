"""The host watcher measured through the real `devbox up -v`, in a container:

1. edit -> new response: p50/p95 over N edits (a client polls the app every millisecond), with
   devbox's own breakdown of each reload from its -v line: save -> batch (inotify, the quiet
   step, the content check), batch -> SIGHUP sent, SIGHUP -> new child ready (the supervisor's
   figure), ready -> its log line read on the host;
2. a 1000-file `git checkout`: how many reloads it caused (the supervisor's "reloading" events,
   crashed children included) and whether the final tree is what gets served;
3. idle CPU of the `devbox up` process over a window, on the project plus 20,000 files in
   node_modules/ (ignored) and, separately, in a directory that is watched.

`python -m benchmarks.watch_latency [--edits 30] [--idle 20] [--json]` with devbox importable
(the project's .venv) and a Docker engine; image $DEVBOX_IMAGE (default devbox-python:bookworm).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from benchmarks import probe

APP = '''
import hashlib
import os

BODY = "v0"
PKG = hashlib.sha1(b"".join(open(os.path.join("pkg", n), "rb").read()
                            for n in sorted(os.listdir("pkg")))).hexdigest() if os.path.isdir("pkg") else "-"


def app(environ, start_response):
    text = PKG if environ.get("PATH_INFO") == "/pkg" else BODY
    data = text.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]
'''
RELOAD = re.compile(r"reloaded in (\d+) ms \(save->batch (\d+), ->SIGHUP (\d+), respawn (\d+), "
                    r"ready->log line \+(\d+) ms\)")
STAGES = ("save->batch", "batch->SIGHUP sent", "SIGHUP->child ready", "ready->log line read")
GIT = ["git", "-c", "user.email=bench@example.invalid", "-c", "user.name=bench", "-c", "commit.gpgsign=false"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


class Up:
    """A foreground `devbox up -v` in `root`, its output in a file; stopped with SIGTERM."""

    def __init__(self, root: Path, port: int):
        self.root, self.port = root, port
        self.log = open(root.parent / f"up-{uuid.uuid4().hex[:6]}.log", "w+b")
        self.started = time.monotonic()
        self.process = subprocess.Popen([sys.executable, "-m", "devbox", "up", "-v"], cwd=root,
                                        stdout=self.log, stderr=subprocess.STDOUT,
                                        env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.watching_s = self.wait(lambda: "watching" in self.output(), 120, "devbox up watching")

    def output(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def wait(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.process.poll() is not None:
                raise RuntimeError(f"devbox up exited ({self.process.returncode}):\n{self.output()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what}: nothing within {timeout} s\n{self.output()[-2000:]}")
            time.sleep(0.01)
        return time.monotonic() - self.started

    def body(self, path="/") -> bytes:
        response = probe.get(self.port, path, timeout=5)
        return response.body if response.outcome == probe.OK else b""

    def cpu_seconds(self) -> float:
        """User + system CPU of the devbox process, all its threads."""
        with open(f"/proc/{self.process.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def make_project(root: Path, name: str, port: int, image: str) -> None:
    root.mkdir(parents=True)
    (root / "app.py").write_text(APP)
    (root / "devbox.yml").write_text(f"name: {name}\nimage: {image}\napp: app:app\nports: ['{port}:8000']\n")


def set_body(root: Path, body: str) -> None:
    path = root / "app.py"
    path.write_text(re.sub(r'BODY = ".*"', f'BODY = "{body}"', path.read_text()))


def edits(up: Up, count: int) -> dict:
    """`count` edits, one at a time: write, then poll until the new body is served."""
    served, stages = [], []
    for n in range(1, count + 1):
        time.sleep(random.uniform(0.3, 0.6))  # a person between saves, and the watcher idle again
        body = f"edit-{n}-{uuid.uuid4().hex[:6]}"
        lines = len(RELOAD.findall(up.output()))
        written = time.time()
        set_body(up.root, body)
        while up.body() != body.encode():
            if time.time() - written > 10:
                raise RuntimeError(f"edit {n} not served within 10 s")
        served.append((time.time() - written) * 1000.0)
        up.wait(lambda lines=lines: len(RELOAD.findall(up.output())) > lines, 10, f"the reload line of edit {n}")
        found = RELOAD.findall(up.output())[lines]
        stages.append([float(x) for x in found[1:]] + [float(found[0])])
    columns = list(zip(*stages))
    return {
        "edits": count,
        "served_p50_ms": statistics.median(served), "served_p95_ms": percentile(served, 0.95),
        "served_max_ms": max(served),
        "devbox_reported_p50_ms": statistics.median(columns[4]),
        "stages_p50_ms": {name: statistics.median(col) for name, col in zip(STAGES, columns[:4])},
        "stages_p95_ms": {name: percentile(col, 0.95) for name, col in zip(STAGES, columns[:4])},
    }


def checkout_burst(up: Up, files: int = 1000) -> dict:
    """`git checkout` between two branches that differ in `files` files, with devbox watching."""
    root = up.root

    def git(*args):
        subprocess.run(GIT + list(args), cwd=root, check=True, capture_output=True)

    return_to = None
    if not (root / ".git").exists():
        (root / "pkg").mkdir()
        for n in range(files):
            (root / "pkg" / f"m{n:04}.py").write_text(f"VALUE = 'a{n}'\n")
        git("init", "-q", "-b", "main")
        git("add", "-A")
        git("commit", "-qm", "a")
        git("checkout", "-qb", "other")
        for n in range(files):
            (root / "pkg" / f"m{n:04}.py").write_text(f"VALUE = 'b{n}'\n")
        git("commit", "-qam", "b")
        git("checkout", "-q", "main")
        return_to = "other"
    # Setting the tree up was itself a burst: let it settle, then count from here.
    settle_until = time.monotonic() + 3
    before = up.output().count("supervisor reloading")
    crashed = up.output().count("supervisor crashed")
    while time.monotonic() < settle_until:
        time.sleep(0.1)
        now = up.output().count("supervisor reloading")
        if now != before:
            before, crashed, settle_until = now, up.output().count("supervisor crashed"), time.monotonic() + 3
    started = time.time()
    subprocess.run(GIT + ["checkout", "-q", return_to], cwd=root, check=True)
    checkout_s = time.time() - started
    expected = hashlib.sha1(b"".join((root / "pkg" / f"m{n:04}.py").read_bytes() for n in range(files))).hexdigest()
    up.wait(lambda: up.body("/pkg") == expected.encode(), 30, "the checked-out tree served")
    served_s = time.time() - started
    # A third reload would come within the longest pause that ends a burst (0.5 s): look a while.
    quiet_until = time.monotonic() + 2
    while time.monotonic() < quiet_until:
        time.sleep(0.05)
    return {"files": files, "checkout_s": checkout_s, "served_after_s": served_s,
            "reloads": up.output().count("supervisor reloading") - before,
            "crashed_children": up.output().count("supervisor crashed") - crashed}


def idle_cpu(workdir: Path, image: str, where: str, extra: int, seconds: float) -> dict:
    """CPU of an idle `devbox up` over `seconds`, with `extra` files under `where`."""
    root = workdir / f"idle-{where.strip('/').replace('/', '-')}"
    port = free_port()
    name = f"bench-watch-{uuid.uuid4().hex[:6]}"
    make_project(root, name, port, image)
    per_dir = 100
    for d in range(extra // per_dir):
        directory = root / where / f"pkg{d:03}"
        directory.mkdir(parents=True)
        for n in range(per_dir):
            (directory / f"f{n:03}.js").write_text(f"module.exports = {d * per_dir + n};\n")
    up = Up(root, port)
    try:
        files = int(re.search(r"watching \S+ \(([\d,]+) files", up.output()).group(1).replace(",", ""))
        time.sleep(2)  # start-up work done
        cpu0, wall0 = up.cpu_seconds(), time.monotonic()
        time.sleep(seconds)
        cpu = up.cpu_seconds() - cpu0
        return {"extra_files_in": where, "extra_files": extra, "files_watched": files,
                "watching_after_s": up.watching_s, "idle_cpu_percent": 100.0 * cpu / (time.monotonic() - wall0),
                "window_s": seconds}
    finally:
        up.stop()
        subprocess.run([sys.executable, "-m", "devbox", "down"], cwd=root, capture_output=True)


def run(edit_count: int, idle_seconds: float, image: str) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="devbox-watch-bench-"))
    result = {"image": image}
    try:
        root = workdir / "app"
        port = free_port()
        make_project(root, f"bench-watch-{uuid.uuid4().hex[:6]}", port, image)
        up = Up(root, port)
        try:
            up.wait(lambda: up.body() == b"v0", 60, "the app serving")
            result["edits"] = edits(up, edit_count)
            result["burst"] = checkout_burst(up)
        finally:
            up.stop()
            subprocess.run([sys.executable, "-m", "devbox", "down"], cwd=root, capture_output=True)
        result["idle"] = [idle_cpu(workdir, image, "node_modules", 20_000, idle_seconds),
                          idle_cpu(workdir, image, "assets/vendor", 20_000, idle_seconds)]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def render(result: dict) -> str:
    e, b = result["edits"], result["burst"]
    lines = [f"edit -> new response over {e['edits']} edits in a container: p50 {e['served_p50_ms']:.0f} ms, "
             f"p95 {e['served_p95_ms']:.0f} ms, max {e['served_max_ms']:.0f} ms "
             f"(devbox's own figure, p50: {e['devbox_reported_p50_ms']:.0f} ms)",
             "", "| stage | p50 | p95 |", "|---|---:|---:|"]
    for stage in STAGES:
        lines.append(f"| {stage} | {e['stages_p50_ms'][stage]:.0f} ms | {e['stages_p95_ms'][stage]:.0f} ms |")
    lines += ["", f"git checkout of {b['files']} files ({b['checkout_s']:.2f} s): {b['reloads']} reload(s) "
                  f"({b['crashed_children']} of them on a half-written tree), "
                  f"final tree served {b['served_after_s']:.2f} s after the checkout began", ""]
    for idle in result["idle"]:
        lines.append(f"idle CPU of `devbox up`, +{idle['extra_files']:,} files in {idle['extra_files_in']}/ "
                     f"({idle['files_watched']:,} files watched, watching after {idle['watching_after_s']:.1f} s): "
                     f"{idle['idle_cpu_percent']:.2f} % of a core over {idle['window_s']:.0f} s")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=30)
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of each idle CPU window")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.edits, args.idle, os.environ.get("DEVBOX_IMAGE", "devbox-python:bookworm"))
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
