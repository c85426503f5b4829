"""Edit-to-new-response latency of each service of a compose project under `devbox up`.

    .venv/bin/python benchmarks/compose_latency.py [--edits 10] [--shared 3]

Copies compose/ (and the docker/ it builds from) to a temporary directory, starts it with the real
`devbox up` (so the real compose CLI, engine and supervisor), then edits one service's code at a
time: t0 is taken right after the save, and a new connection every 5 ms asks that service for
its page until the new text is served. After each edit the other service's serving pid is read
too, to show it did not restart. Edits to services/common (watched by both) are timed until both
serve the new text. Needs an engine and $DEVBOX_IMAGE as for the tests (scripts/engine).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
POLL = 0.005
SERVE_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BadAnswer(Exception):
    pass


BAD_ANSWERS = []  # (port, what) of answers that were not the service's JSON, during reloads


def get_json(port: int):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
        body = response.read()
        try:
            return json.loads(body)
        except ValueError:
            raise BadAnswer(f"status {response.status}, headers {dict(response.headers)}, body {body[:200]!r}") from None


def poll(port: int, ready, timeout: float = SERVE_TIMEOUT):
    """The first answer of `port` that `ready` accepts, and when it came."""
    deadline = time.monotonic() + timeout
    data = None
    while time.monotonic() < deadline:
        try:
            data = get_json(port)
            if ready(data):
                return data, time.monotonic()
        except OSError:
            pass
        except BadAnswer as exc:
            BAD_ANSWERS.append((port, str(exc)))
        time.sleep(POLL)
    raise TimeoutError(f"port {port}: no new answer within {timeout:g} s (last: {data})")


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def summary(values_ms):
    values = sorted(values_ms)
    p90 = values[min(len(values) - 1, int(round(0.9 * (len(values) - 1))))]
    return f"p50 {statistics.median(values):6.0f} ms   p90 {p90:6.0f} ms   min {values[0]:5.0f}   max {values[-1]:5.0f}   n={len(values)}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=10, help="edits per service (default 10)")
    parser.add_argument("--shared", type=int, default=3, help="edits of the shared library (default 3)")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO))
    from devbox.compose import ComposeCLI, find_cli

    image = os.environ.get("DEVBOX_IMAGE", "python:3.12-slim")
    name = f"devbox-bench-{uuid.uuid4().hex[:6]}"
    web_port, api_port = free_port(), free_port()
    env = {**os.environ, "DEVBOX_IMAGE": image, "WEB_PORT": str(web_port), "API_PORT": str(api_port),
           "PYTHONUNBUFFERED": "1"}
    devbox = [sys.executable, "-m", "devbox"]
    cli_version = ComposeCLI(find_cli(), name, []).version()
    engine = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True,
                            text=True).stdout.strip()
    print(f"compose CLI: {cli_version}; engine {engine}; base image {image}; project {name}")

    work = Path(tempfile.mkdtemp(prefix="devbox-compose-bench-"))
    shutil.copytree(REPO / "compose", work / "compose", ignore=shutil.ignore_patterns(".devbox", "__pycache__"))
    shutil.copytree(REPO / "docker", work / "docker")
    root = work / "compose"
    replace_in(root / "devbox.yml", "name: shop\n", f"name: {name}\n")
    log = open(work / "up.log", "w+b")
    up = subprocess.Popen(devbox + ["up"], cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                          start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    rows = {"web": [], "api": [], "shared": []}
    proof = []
    try:
        deadline = time.monotonic() + 180
        while b"watching" not in (work / "up.log").read_bytes():
            if up.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("devbox up did not start:\n" + (work / "up.log").read_text())
            time.sleep(0.05)
        time.sleep(1.0)  # let the watcher take its baseline
        plan = ["web", "api"] * args.edits + ["shared"] * args.shared
        versions = {"web": 1, "api": 1, "shared": 1}
        for which in plan:
            before_web, before_api = get_json(web_port)["pid"], get_json(api_port)["pid"]
            old, new = versions[which], versions[which] + 1
            versions[which] = new
            if which == "web":
                replace_in(root / "services/web/app.py", f'"web v{old}"', f'"web v{new}"')
                t0 = time.monotonic()
                data, t1 = poll(web_port, lambda d, new=new: d["title"] == f"web v{new}")
            elif which == "api":
                replace_in(root / "services/api/app.py", f'"hello from api v{old}"', f'"hello from api v{new}"')
                t0 = time.monotonic()
                data, t1 = poll(api_port, lambda d, new=new: d["message"] == f"hello from api v{new}")
            else:
                replace_in(root / "services/common/http.py", f'"common v{old}"', f'"common v{new}"')
                t0 = time.monotonic()
                data, t1 = poll(web_port, lambda d, new=new: d["common"] == d["api"]["common"] == f"common v{new}")
            rows[which].append((t1 - t0) * 1000.0)
            after_web, after_api = get_json(web_port)["pid"], get_json(api_port)["pid"]
            proof.append((which, before_web, after_web, before_api, after_api))
            time.sleep(random.uniform(0.3, 0.6))  # edits land at any phase of the watcher
    except BaseException:
        lines = (work / "up.log").read_text(errors="replace").splitlines()
        print("\n".join(line for line in lines if line.startswith("[devbox]") or "rror" in line), file=sys.stderr)
        raise
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGINT)
            try:
                up.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(up.pid, signal.SIGKILL)
        subprocess.run(devbox + ["down"], cwd=root, env=env, capture_output=True)
        images = subprocess.run(["docker", "images", "--format", "{{.Repository}}"], capture_output=True,
                                text=True).stdout.split()
        mine = sorted({i for i in images if i.startswith(f"{name}_") or i.startswith(f"{name}-")})
        if mine:
            subprocess.run(["docker", "rmi", "-f", *mine], capture_output=True)

    print("\nedit -> new response, per service (t0 after the save; a new connection every 5 ms):")
    for which in ("web", "api", "shared"):
        if rows[which]:
            label = {"shared": "common (both)"}.get(which, which)
            print(f"  {label:14} {summary(rows[which])}")
    print("\nserving pids around each edit (web before->after, api before->after):")
    wrong = 0
    for which, bw, aw, ba, aa in proof:
        ok = {"web": bw != aw and ba == aa, "api": ba != aa and bw == aw, "shared": bw != aw and ba != aa}[which]
        wrong += not ok
        print(f"  edit {which:6}  web {bw:>4} -> {aw:<4}  api {ba:>4} -> {aa:<4}  {'ok' if ok else 'UNEXPECTED'}")
    print(f"\nonly the edited service restarted: {len(proof) - wrong}/{len(proof)} edits")
    print(f"answers that were not the service's JSON while polling: {len(BAD_ANSWERS)}")
    for port, what in BAD_ANSWERS[:5]:
        print(f"  {'web' if port == web_port else 'api'}: {what}")
    shutil.rmtree(work, ignore_errors=True)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
