"""Reload latency of the supervisor, natively (no Docker).

    python benchmarks/supervisor_reload.py [--reloads 20] [--python /usr/bin/python3]

For each reload: edit the app, SIGHUP the supervisor, then open a new connection every few ms
until the new body comes back; the latency is SIGHUP -> first new response. A second client
polls all along and counts failed requests. Then SIGTERM -> exit time, and the stdlib-only
import check (the package copied alone, imported with -S -I). Prints the numbers.
"""

import argparse
import http.client
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from devbox.supervisor import protocol  # noqa: E402

APP = """\
BODY = %r
def app(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [BODY.encode()]
"""


def get(port, timeout=2.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def events(path, kind):
    found = (protocol.parse_event(line) for line in path.read_text().splitlines())
    return [fields for k, fields in (e for e in found if e) if k == kind]


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.002)
    raise SystemExit("timed out waiting for " + what)


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100.0 * (len(ordered) - 1))))]


def stdlib_only_check(python):
    """'stdlib only', or the non-stdlib modules the package pulled in."""
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "devbox" / "supervisor"
        shutil.copytree(str(ROOT / "devbox" / "supervisor"), str(target),
                        ignore=shutil.ignore_patterns("__pycache__"))
        modules = [p.stem for p in target.glob("*.py") if p.stem != "__init__"]
        code = ("import sys, sysconfig; sys.path.insert(0, %r)\n"
                "for m in %r: __import__('devbox.supervisor.' + m)\n"
                "std = [sysconfig.get_paths()[k] for k in ('stdlib', 'platstdlib')]\n"
                "bad = [n for n, m in sys.modules.items() if getattr(m, '__file__', None)"
                " and not m.__file__.startswith(%r)"
                " and not any(m.__file__.startswith(s) for s in std)]\n"
                "print(', '.join(sorted(bad)) or 'stdlib only')") % (tmp, modules, tmp)
        out = subprocess.run([python, "-S", "-I", "-c", code], capture_output=True, text=True)
        return (out.stdout.strip() or out.stderr.strip().splitlines()[-1]), modules


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reloads", type=int, default=20)
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter for the supervisor and its child")
    args = parser.parse_args()
    args.python = os.path.abspath(shutil.which(args.python) or args.python)

    work = Path(tempfile.mkdtemp(prefix="devbox-bench-"))
    out_path = work / "supervisor.out"
    (work / "app.py").write_text(APP % "v0")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    argv = [args.python, "-m", "devbox.supervisor", "--app", "app:app", "--host", "127.0.0.1",
            "--port", "0", "--status-file", str(work / "status.json"),
            "--lock-file", str(work / "heartbeat.lock")]
    with open(out_path, "wb") as out, open(work / "child.err", "wb") as err:
        proc = subprocess.Popen(argv, cwd=str(work), stdout=out, stderr=err, env=env,
                                start_new_session=True)
    try:
        started = wait_for(lambda: events(out_path, protocol.EVENT_STARTED), 10, "start")[0]
        port = int(started["address"].rsplit(":", 1)[1])
        wait_for(lambda: events(out_path, protocol.EVENT_READY), 10, "first child")

        failures, requests, done = [], [0], threading.Event()

        def background():
            while not done.is_set():
                try:
                    status, _ = get(port)
                    requests[0] += 1
                    if status != 200:
                        failures.append("HTTP %d" % status)
                except OSError as exc:
                    failures.append(repr(exc))

        client = threading.Thread(target=background)
        client.start()
        latencies = []
        for i in range(1, args.reloads + 1):
            body = "v%d" % i
            (work / "app.py").write_text(APP % body)
            t0 = time.perf_counter()
            os.kill(proc.pid, signal.SIGHUP)
            while True:
                try:
                    requests[0] += 1
                    if get(port) == (200, body):
                        break
                except OSError as exc:
                    failures.append(repr(exc))
                time.sleep(0.002)
            latencies.append((time.perf_counter() - t0) * 1000)
            wait_for(lambda i=i: len(events(out_path, protocol.EVENT_READY)) > i, 10, "ready line")
        done.set()
        client.join()

        t0 = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(10)
        stop_ms = (time.perf_counter() - t0) * 1000
        reported = [f["ms"] for f in events(out_path, protocol.EVENT_READY)[1:]]
        check, modules = stdlib_only_check(args.python)
        print("python %s (%s)" % (args.python, started["python"]))
        print("reload latency, SIGHUP -> first new response, %d reloads: p50 %.1f ms, "
              "p95 %.1f ms, max %.1f ms" % (len(latencies), statistics.median(latencies),
                                            percentile(latencies, 95), max(latencies)))
        print("supervisor's own ready ms (SIGHUP -> child ready): p50 %d ms, p95 %d ms"
              % (statistics.median(reported), percentile(reported, 95)))
        print("requests during reloads: %d, failed: %d%s" % (
            requests[0], len(failures), (" (" + "; ".join(failures[:3]) + ")") if failures
            else ""))
        print("SIGTERM -> exit: %.1f ms (exit status %d)" % (stop_ms, code))
        print("stdlib-only import check (%d modules, -S -I): %s" % (len(modules), check))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(str(work), ignore_errors=True)


if __name__ == "__main__":
    main()
