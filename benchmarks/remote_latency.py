"""Edit-to-new-response latency over an ssh:// engine (copy sync, ssh port forward) against the
local engine with a bind mount, in the same run; and the initial copy of a real tree.

    .venv/bin/python benchmarks/remote_latency.py [--edits 20] [--tree /work/main] [--copies 3]

Starts a throwaway OpenSSH server on 127.0.0.1 in front of this machine's engine (tests/sshd.py),
then two real `devbox up` sessions of the same tiny app side by side: one with the local engine
(bind mount), one with DOCKER_HOST=ssh://root@127.0.0.1:PORT (the tree copied in, every change
sent as a tar, the port forwarded by ssh -L). Edits alternate between them: t0 is taken right
after the save, and a new connection every 5 ms asks for the page until the new text is served.
Loopback ssh has no network delay, so the remote figures are devbox's own cost over ssh; add
your VM's round trips (a put_archive and a kill per reload, one each) for a real one.

Then it copies --tree (default: this repository) into a fresh container --copies times, over ssh
and locally, as `devbox up` does before the first start, and prints files, bytes and seconds.
Needs an engine and $DEVBOX_IMAGE as for the tests (scripts/engine) and sshd (engine_ssh_tools).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
POLL = 0.005
SERVE_TIMEOUT = 30.0
APP = '''
BODY = "v0"

def app(environ, start_response):
    data = (BODY + "\\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def body(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as response:
        return response.read().decode()


def wait_body(port: int, expected: str, timeout: float = SERVE_TIMEOUT) -> float:
    """When (monotonic) `port` first served `expected`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = body(port)
            if last == expected:
                return time.monotonic()
        except OSError as exc:
            last = exc
        time.sleep(POLL)
    raise TimeoutError(f"port {port}: {expected!r} not served within {timeout:g} s (last: {last!r})")


def summary(values_ms) -> str:
    values = sorted(values_ms)
    p90 = values[min(len(values) - 1, int(round(0.9 * (len(values) - 1))))]
    return (f"p50 {statistics.median(values):6.0f} ms   p90 {p90:6.0f} ms   min {values[0]:5.0f}   "
            f"max {values[-1]:5.0f}   n={len(values)}")


class Session:
    """One foreground `devbox up` of the tiny app, in its own directory and environment."""

    def __init__(self, label: str, work: Path, image: str, env: dict):
        self.label, self.port = label, free_port()
        self.name = f"devbox-bench-{label}-{uuid.uuid4().hex[:6]}"
        self.root = work / label
        self.root.mkdir()
        (self.root / "app.py").write_text(textwrap.dedent(APP))
        (self.root / "devbox.yml").write_text(f"name: {self.name}\nimage: {image}\napp: app:app\n"
                                              f"ports: ['{self.port}']\n")
        self.env = {**env, "PYTHONUNBUFFERED": "1"}
        self.log_path = work / f"{label}.log"
        self.log = open(self.log_path, "w+b")
        self.version = 0
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devbox", "up"], cwd=self.root, env=self.env, stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_watching(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while "watching" not in self.output():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"devbox up ({self.label}) did not start:\n{self.output()}")
            time.sleep(0.05)
        wait_body(self.port, "v0\n")

    def edit(self) -> float:
        """Save a new BODY; ms until it is served."""
        path = self.root / "app.py"
        old, self.version = self.version, self.version + 1
        path.write_text(path.read_text().replace(f'"v{old}"', f'"v{self.version}"'))
        t0 = time.monotonic()
        return (wait_body(self.port, f"v{self.version}\n") - t0) * 1000.0

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        subprocess.run([sys.executable, "-m", "devbox", "down"], cwd=self.root, env=self.env, capture_output=True)
        self.log.close()


def initial_copies(tree: Path, image: str, env: dict, copies: int):
    """[(files, bytes, seconds)] of copying `tree` into a new container `copies` times."""
    from devbox import config, engine, sync

    cfg = config.load(tree / "devbox.yml", environ=env) if (tree / "devbox.yml").exists() else None
    if cfg is None:
        raise SystemExit(f"{tree} has no devbox.yml: --tree must be a devbox project")
    saved = dict(os.environ)
    os.environ.update(env)  # docker-py's ssh reads the process environment (PATH: the ssh wrapper)
    try:
        eng = engine.connect(env)
        results = []
        for _ in range(copies):
            container = eng.client.containers.create(image, ["sleep", "60"], working_dir=cfg.workdir,
                                                     labels={"devbox.test": "1", "devbox.bench": "remote"})
            try:
                stats = sync.initial(container, cfg)
                results.append((stats.files, stats.bytes, stats.seconds))
            finally:
                container.remove(force=True)
        eng.close()
        return results
    finally:
        os.environ.clear()
        os.environ.update(saved)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=20, help="edits per session (default 20)")
    parser.add_argument("--tree", default=str(REPO), help="tree whose initial copy is timed (default: this repo)")
    parser.add_argument("--copies", type=int, default=3, help="initial copies of --tree per engine (default 3)")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO))
    from tests.sshd import SshServer

    image = os.environ.get("DEVBOX_IMAGE", "python:3.12-slim")
    local_env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKER_CONTEXT")}
    work = Path(tempfile.mkdtemp(prefix="devbox-remote-bench-"))
    sshd = SshServer(work / "sshd").start()
    remote_env = {**local_env, **sshd.env()}
    print(f"engine {subprocess.run(['docker', 'version', '--format', '{{.Server.Version}}'], capture_output=True, text=True).stdout.strip()}; "
          f"image {image}; remote = {sshd.url} (OpenSSH on loopback, same engine)")

    sessions = []
    rows = {"local": [], "remote": []}
    try:
        sessions = [Session("local", work, image, local_env), Session("remote", work, image, remote_env)]
        for session in sessions:
            session.wait_watching()
        time.sleep(1.0)  # let both watchers take their baseline
        for _ in range(args.edits):
            for session in random.sample(sessions, len(sessions)):
                rows[session.label].append(session.edit())
                time.sleep(random.uniform(0.3, 0.6))  # edits land at any phase of the watcher
    except BaseException:
        for session in sessions:
            print(f"--- {session.label}:\n" + "\n".join(
                line for line in session.output().splitlines() if not line.startswith("[app]")), file=sys.stderr)
        raise
    finally:
        for session in sessions:
            session.stop()

    print("\nedit -> new response (t0 after the save; a new connection every 5 ms), same run, interleaved:")
    print(f"  local engine, bind mount      {summary(rows['local'])}")
    print(f"  ssh:// engine, copy + forward {summary(rows['remote'])}")

    tree = Path(args.tree).resolve()
    print(f"\ninitial copy of {tree} into a new container (ignore rules applied), {args.copies} times:")
    for label, env in (("ssh:// engine", remote_env), ("local engine", local_env)):
        results = initial_copies(tree, image, env, args.copies)
        files, size = results[0][0], results[0][1]
        seconds = sorted(r[2] for r in results)
        print(f"  {label:14} {files:,} files, {size / 1e6:.1f} MB: median {statistics.median(seconds):.2f} s "
              f"(runs: {', '.join(f'{s:.2f}' for s in seconds)})")
    sshd.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
