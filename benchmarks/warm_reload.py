"""Warm reloads side by side: the supervisor with warm forks on and off, on a light app and on one
that imports a heavy dependency (~0.4 s of CPU, outside the project, as site-packages is), against
the cold floor (kill a plain wsgiref server and start it again). Natively, no Docker.

    python benchmarks/warm_reload.py [--rounds 3] [--reloads 8] [--python /usr/bin/python3]

Each reload: save app.py (a new version, as benchmarks.project does: the size changes and the mtime
moves forward, so no bytecode cache serves the old one), then SIGHUP the supervisor (the floor:
SIGKILL the server and start it again), then open a new connection every 2 ms until the new body
comes back; the latency is signal -> first new response. Saves are spaced as a person's are (the supervisor settles
in between: the old child drained, the next standby child forked). A second client requests all
along and counts failures. Configurations are interleaved round by round, so machine noise
spreads over all of them. Prints p50 / p95 per configuration and app.
"""

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.project import Project, marker  # noqa: E402
from benchmarks.supervisor_reload import events, get, percentile, wait_for  # noqa: E402
from devbox.supervisor import protocol  # noqa: E402
from devbox.supervisor.status import read_status  # noqa: E402

CONFIGS = [  # (label, supervisor flags; None: the kill-and-respawn floor)
    ("devbox, warm fork + overlap (default)", []),
    ("devbox --no-warm (cold child, overlap)", ["--no-warm"]),
    ("devbox --no-warm --no-overlap (before)", ["--no-warm", "--no-overlap"]),
    ("kill and respawn wsgiref (cold floor)", None),
]
SETTLE = 0.4  # seconds after a reload is served before the next save
SERVE_TIMEOUT = 30.0


class Session:
    """One supervisor (or plain server) on one project; reloads measured one by one."""

    def __init__(self, python, project, flags):
        self.python, self.project, self.flags = python, project, flags
        self.work = project.root
        self.versions = 0
        self.out_path = self.work / "supervisor.out"
        self.env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(project.site)]))
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)  # caching on, as in most setups
        self.port = None
        self.proc = None

    def write_app(self):
        self.versions += 1
        version = "v%d" % self.versions
        self.project.write(version)
        return marker(version).decode()

    def start(self):
        self.write_app()
        if self.flags is None:
            self.port = free_port()
            self._start_server()
        else:
            argv = [self.python, "-m", "devbox.supervisor", "--app", "app:app", "--host", "127.0.0.1",
                    "--port", "0", "--status-file", str(self.work / "status.json"),
                    "--lock-file", str(self.work / "heartbeat.lock")] + self.flags
            with open(self.out_path, "wb") as out, open(self.work / "child.err", "ab") as err:
                self.proc = subprocess.Popen(argv, cwd=str(self.work), stdout=out, stderr=err, env=self.env,
                                             start_new_session=True)
            started = wait_for(lambda: events(self.out_path, protocol.EVENT_STARTED), 20, "start")[0]
            self.port = int(started["address"].rsplit(":", 1)[1])
        wait_for(lambda: self._serves(marker("v1").decode()), 20, "first response")
        self.settle()

    def _start_server(self):
        with open(self.work / "child.err", "ab") as err:
            self.proc = subprocess.Popen([self.python, "serve_wsgiref.py", str(self.port)], cwd=str(self.work),
                                         stdout=err, stderr=err, env=self.env, start_new_session=True)

    def _serves(self, body):
        try:
            return get(self.port, timeout=5) == (200, body)
        except OSError:
            return False

    def settle(self):
        """As between two saves of a person: the old child gone, a warm standby child waiting."""
        time.sleep(SETTLE)
        if self.flags == []:
            wait_for(lambda: _status(self.work).get("standby_pid"), 20, "a standby child")

    def reload(self, failures):
        body = self.write_app()
        t0 = time.perf_counter()
        if self.flags is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self._start_server()
        else:
            os.kill(self.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + SERVE_TIMEOUT
        while True:
            try:
                if get(self.port) == (200, body):
                    break
            except OSError as exc:
                if self.flags is not None:
                    failures.append(repr(exc))
            if time.monotonic() > deadline:
                raise SystemExit("%s never served in %s" % (body.strip(), self.work))
            time.sleep(0.002)
        took = (time.perf_counter() - t0) * 1000
        self.settle()
        return took

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM if self.flags is not None else signal.SIGKILL)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def _status(work):
    try:
        return read_status(str(work / "status.json"))
    except (OSError, ValueError):
        return {}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def background_client(port, failures, done):
    """Requests / continuously; a refused or reset connection or a 5xx counts as a failure."""
    while not done.is_set():
        try:
            status, _ = get(port)
            if status >= 500:
                failures.append("HTTP %d" % status)
        except OSError as exc:
            failures.append(repr(exc))


def run(python, rounds, reloads, base):
    results = {(label, heavy): [] for label, _ in CONFIGS for heavy in (False, True)}
    failures = {key: [] for key in results}
    for rnd in range(rounds):
        order = CONFIGS[rnd % len(CONFIGS):] + CONFIGS[:rnd % len(CONFIGS)]
        for label, flags in order:
            for heavy in (False, True):
                name = "r%d-%d-%s" % (rnd, CONFIGS.index((label, flags)), "heavy" if heavy else "light")
                session = Session(python, Project(base / name, heavy=heavy, site=base / "site").create(), flags)
                print("round %d: %s, %s app" % (rnd + 1, label, "heavy" if heavy else "light"), flush=True)
                done = threading.Event()
                # The floor refuses connections while it restarts, by design: not counted.
                counted = failures[(label, heavy)] if flags is not None else []
                try:
                    session.start()
                    client = threading.Thread(target=background_client, args=(session.port, counted, done))
                    client.start()
                    for _ in range(reloads):
                        results[(label, heavy)].append(session.reload(failures[(label, heavy)]))
                finally:
                    done.set()
                    session.stop()
    return results, failures


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reloads", type=int, default=8, help="reloads per configuration and app, per round")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the supervisor and the apps")
    args = parser.parse_args()
    args.python = os.path.abspath(shutil.which(args.python) or args.python)
    version = subprocess.run([args.python, "-c", "import platform; print(platform.python_version())"],
                             capture_output=True, text=True).stdout.strip()
    base = Path(tempfile.mkdtemp(prefix="devbox-warm-"))
    signal.signal(signal.SIGTERM, _interrupt)  # a killed run still stops what it started
    try:
        results, failures = run(args.python, args.rounds, args.reloads, base)
    finally:
        shutil.rmtree(str(base), ignore_errors=True)
    print()
    print("python %s (%s), %d cores, load average %s; %d reloads per cell; signal -> first new response"
          % (args.python, version, os.cpu_count(), " ".join("%.2f" % x for x in os.getloadavg()),
             args.rounds * args.reloads))
    head = "| %-40s | %9s | %9s | %9s | %9s | %13s | %8s |"
    print(head % ("", "light p50", "light p95", "heavy p50", "heavy p95", "heavy - light", "failed"))
    print("|" + "|".join("-" * (w + 2) for w in (40, 9, 9, 9, 9, 13, 8)) + "|")
    for label, flags in CONFIGS:
        light, heavy = results[(label, False)], results[(label, True)]
        failed = len(failures[(label, False)]) + len(failures[(label, True)])
        print(head % (label, "%.1f ms" % statistics.median(light), "%.1f ms" % percentile(light, 95),
                      "%.1f ms" % statistics.median(heavy), "%.1f ms" % percentile(heavy, 95),
                      "%+.1f ms" % (statistics.median(heavy) - statistics.median(light)),
                      "-" if flags is None else str(failed)))


if __name__ == "__main__":
    main()
