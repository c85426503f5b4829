"""Time from `devbox up -d` to the first 200 (image cached) and of `devbox down`, p50 of N runs.

    python benchmarks/up_down.py [--runs 5]

Uses a throwaway project in a temp dir with the test image ($DEVBOX_IMAGE) and a free port;
removes everything it made.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

APP = "def app(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_200(url, deadline):
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            time.sleep(0.005)
    return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    image = os.environ.get("DEVBOX_IMAGE", "python:3.12-slim")
    devbox = [sys.executable, "-m", "devbox"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        port = free_port()
        name = f"devbox-bench-{uuid.uuid4().hex[:6]}"
        (root / "app.py").write_text(APP)
        (root / "devbox.yml").write_text(f"name: {name}\nimage: {image}\napp: app:app\nports: ['{port}']\n")
        ups, downs = [], []
        try:
            for _ in range(args.runs):
                started = time.monotonic()
                subprocess.run(devbox + ["up", "-d"], cwd=root, check=True, capture_output=True)
                if not first_200(f"http://127.0.0.1:{port}/", started + 60):
                    raise SystemExit("no 200 within 60 s")
                ups.append(time.monotonic() - started)
                started = time.monotonic()
                subprocess.run(devbox + ["down"], cwd=root, check=True, capture_output=True)
                downs.append(time.monotonic() - started)
        finally:
            subprocess.run(devbox + ["down"], cwd=root, capture_output=True)
    print(f"devbox up -d -> first 200 (image cached): p50 {statistics.median(ups) * 1000:.0f} ms  "
          f"(runs: {', '.join(f'{u * 1000:.0f}' for u in ups)})")
    print(f"devbox down:                              p50 {statistics.median(downs) * 1000:.0f} ms  "
          f"(runs: {', '.join(f'{d * 1000:.0f}' for d in downs)})")


if __name__ == "__main__":
    main()
