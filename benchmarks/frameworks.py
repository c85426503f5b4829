"""python -m benchmarks.frameworks [--quick]: real frameworks under devbox and under their own reloaders.

Every contender serves one of the example projects in tests/apps (Flask, Django, FastAPI, a
Flask app under gunicorn, Bottle) from a container of the framework image (scripts/engine builds
it from docker/frameworks.txt), bind-mounted, on the same machine, in one run: devbox up in
each way it serves that framework, and the framework's own reloader (`flask run --debug`,
`manage.py runserver`, `uvicorn --reload`, `gunicorn --reload`, `bottle.run(reloader=True)`)
in a plain `docker run`. Each edit rewrites the `MESSAGE = ...` line of the view module; the
measurements are benchmarks.measure's (edit to new response, failed requests seen by a second
client). A contender that does not serve is reported as such in its row, with its log.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import List, Tuple

from benchmarks import containers, facts, proctree, report
from benchmarks.__main__ import update_readme
from benchmarks.contenders import DEVBOX, PEER, Contender, ContainerMixin, DevboxUp, Tools
from benchmarks.measure import Session, Settings, StartFailed, Versions
from benchmarks.project import Project

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
APPS = REPO / "tests" / "apps"
PORT = 8000  # the examples' port in the container
MESSAGE_LINE = re.compile(r'^MESSAGE = ".*"$', re.M)
START_TIMEOUT = 20.0  # the examples start in 1-3 s; longer means it never will
README_START, README_END = "<!-- frameworks:start -->", "<!-- frameworks:end -->"


@dataclass(frozen=True)
class Case:
    """One framework: its example, the file an edit changes, and how each contender serves it."""

    framework: str
    key: str  # names its contenders, their containers and logs
    example: str
    edited: str
    own: Tuple[str, str]  # (label, the framework's own reloader as its users start it)
    devbox: Tuple[Tuple[str, str], ...]  # (label, the devbox.yml line that serves it)


CASES = (
    Case("Flask", "flask", "flask_app", "app.py",
         ("flask run --debug", "python3 -m flask --app app run --debug --host 0.0.0.0 --port 8000"),
         (("app: app:app", "app: app:app"),
          ("command: flask run --debug",
           "command: python3 -m flask --app app run --debug --host 0.0.0.0 --port 8000"))),
    Case("Django", "django", "django_site", "polls/views.py",
         ("manage.py runserver", "python3 manage.py runserver 0.0.0.0:8000"),
         (("app: mysite.wsgi:application", "app: mysite.wsgi:application"),
          ("command: manage.py runserver", "command: python3 manage.py runserver 0.0.0.0:8000"))),
    Case("FastAPI", "fastapi", "fastapi_app", "main.py",
         ("uvicorn --reload", "python3 -m uvicorn main:app --reload --host 0.0.0.0 --port 8000"),
         (("app: main:app", "app: main:app"),
          ("command: uvicorn --fd 3", "command: python3 -m uvicorn main:app --fd 3"))),
    Case("gunicorn (Flask app)", "gunicorn", "flask_app", "app.py",
         ("gunicorn --reload", "python3 -m gunicorn --reload --bind 0.0.0.0:8000 app:app"),
         (("command: gunicorn --bind fd://3", "command: python3 -m gunicorn --bind fd://3 app:app"),)),
    Case("Bottle", "bottle", "bottle_app", "app.py",
         ("bottle.run(reloader=True)", "python3 app.py"),
         (("command: python3 app.py", "command: python3 app.py"), ("app: app:app", "app: app:app"))),
)


class ExampleProject(Project):
    """A copy of an example whose edits rewrite its MESSAGE line (benchmarks.project's honest
    edits: the size changes and the mtime moves forward every time)."""

    def __init__(self, root: Path, case: Case):
        super().__init__(root)
        self.case = case
        self.app_path = self.root / case.edited
        self.original = ""

    def create(self) -> "ExampleProject":
        shutil.copytree(APPS / self.case.example, self.root, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "db.sqlite3"))
        self.original = self.app_path.read_text()
        return self

    def app_source(self, version: str, edit: int) -> str:
        line = f'MESSAGE = "bench {version}!"  # ' + "x" * (10 + edit % 7)
        return MESSAGE_LINE.sub(line, self.original, count=1)

    def marker(self, version: str) -> bytes:
        return f"bench {version}!".encode()  # in HTML and JSON alike; "!" ends it (v1 is not v12)


class OwnReloader(ContainerMixin, Contender):
    """The framework's own reloader in a plain container of the framework image (bind mount)."""

    kind = PEER
    case: Case

    def command(self) -> List[str]:
        return self.case.own[1].split()

    def start(self, project, port, log_path):
        self.project, self.port, self.log_path = project, port, log_path
        containers.remove(self.container_name())
        containers.docker(*containers.run_args(self.container_name(), self.tools.run_id), "--init",
                          "-p", f"127.0.0.1:{port}:{PORT}", "-v", f"{project.root}:/app", "-w", "/app",
                          "-e", "PYTHONPYCACHEPREFIX=/tmp/pycache", "-e", "PYTHONUNBUFFERED=1",
                          self.tools.image, *self.command())

    def roots(self):
        return self.container_pids()

    def running(self):
        return bool(self.container_pids())

    def stop(self):
        started = time.monotonic()
        containers.docker("stop", "-t", "5", self.container_name(), timeout=60, check=False)
        return time.monotonic() - started

    def cleanup(self):
        if self.log_path:  # what it printed, for the row's log
            Path(self.log_path).write_text(containers.docker("logs", self.container_name(), check=False, timeout=30))
        containers.remove(self.container_name())


class DevboxServes(DevboxUp):
    """devbox up serving the example with one devbox.yml line (`app: ...` or `command: ...`)."""

    serve = ""

    def prepare(self):
        (self.project.root / "devbox.yml").write_text(
            f"name: {self.project_name()}\nimage: {self.tools.image}\n{self.serve}\n"
            f'ports: ["127.0.0.1:{self.port}:{PORT}"]\n')


MODES = ("own", "app", "command")


def contenders_of(case: Case, modes=MODES) -> List[type]:
    """The contender classes of one case: its own reloader first, then each devbox way; only
    those of `modes` (own, app, command: the first word of the devbox.yml line)."""
    own = type("Own", (OwnReloader,), {"name": f"{case.key}-own", "label": case.own[0], "case": case,
                                       "how": case.own[1]})
    ways = [type("Devbox", (DevboxServes,), {"name": f"{case.key}-devbox-{n}", "label": f"devbox, {label}",
                                             "serve": line, "how": line, "kind": DEVBOX})
            for n, (label, line) in enumerate(case.devbox, 1) if line.split(":", 1)[0] in modes]
    return ([own] if "own" in modes else []) + ways


def measure(contender: Contender, project: ExampleProject, versions: Versions, settings: Settings,
            log_path: Path) -> dict:
    """One session: start, `settings.edits` edits, stop; or why it did not serve."""
    record = {"label": contender.label, "kind": contender.kind, "how": contender.how, "log": str(log_path)}
    try:
        with Session(contender, project, versions, settings, str(log_path)) as session:
            record["edit_series"] = session.edits(settings.edits * settings.rounds)
        record["startup_s"] = session.startup_s
        if session.exited_early:
            record["error"] = f"exited during the edits (see {log_path})"
    except StartFailed:
        record["error"] = f"nothing served within {settings.start_timeout:g} s" + why_not_served(log_path)
    return record


# What the app printed last that says why it did not serve: an exception, or a bind that failed.
_CAUSE = re.compile(r"^(?:\[app\]\s+)?(\w+(?:Error|Exception): .+|.*Address already in use.*)$", re.M)


def why_not_served(log_path: Path) -> str:
    """`: CAUSE (log: PATH)` from a contender's log, or ` (log: PATH)`."""
    try:
        causes = _CAUSE.findall(log_path.read_text(errors="replace"))
    except OSError:
        causes = []
    cause = f": {causes[-1].strip()[:160]}" if causes else ""
    return f"{cause} (log: {log_path.name})"


def summary(record: dict) -> dict:
    """p50/p95 of the edits served, failed requests per edit, edits never served."""
    series = record.get("edit_series")
    if not series:
        return {}
    latencies = series["latencies_ms"]
    return {"p50_ms": report.percentile(latencies, 50), "p95_ms": report.percentile(latencies, 95),
            "failed_per_reload": len(series["failures"]) / series["edits"] if series["edits"] else None,
            "missed": series["missed"], "edits": series["edits"]}


def table(results: List[dict]) -> str:
    """One row per contender, grouped by framework; devbox's p50 and p95 with the ratio to the
    framework's own reloader."""
    lines = ["| framework | served by | edit→new response p50 | p95 | failed requests / reload "
             "| edits never served |",
             "|---|---|---:|---:|---:|---:|"]
    for case in results:
        own = next((summary(r) for r in case["rows"] if r["kind"] == PEER), {})
        for record in case["rows"]:
            s = summary(record)
            label = record["label"] if record["kind"] == PEER else f"**{record['label']}**"
            if not s:
                lines.append(f"| {case['framework']} | {label} | not served: {record['error']} | | | |")
                continue
            cells = []
            for key in ("p50_ms", "p95_ms"):
                cell = report.fmt(s[key], "ms")
                if record["kind"] != PEER and s[key] is not None:
                    cell += report.ratio(s[key], own.get(key))
                cells.append(cell)
            cells += [report.fmt(s["failed_per_reload"], ""), f"{s['missed']} of {s['edits']}"]
            if record.get("error"):
                cells[-1] += f" ({record['error']})"
            lines.append(f"| {case['framework']} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


NOTE = ("In brackets, devbox's time over the framework's own reloader in the same run (lower is better). "
        "Every contender runs in a container of the framework image with the project bind-mounted; an "
        "edit rewrites the view module's MESSAGE line; a new connection every 5 ms until the new body, "
        "and a second client requesting `/` every 10 ms counts refused, reset and 5xx answers. "
        f"An edit not served within 10 s is never served; a contender not serving within {START_TIMEOUT:g} s "
        "of its start is not measured.")


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def frameworks_image() -> str:
    """$DEVBOX_FRAMEWORKS_IMAGE, else what scripts/engine builds (and caches) for this checkout."""
    image = os.environ.get("DEVBOX_FRAMEWORKS_IMAGE")
    if image:
        return image
    script = '. scripts/engine && engine_ensure >&2 && printf %s "$DEVBOX_FRAMEWORKS_IMAGE"'
    result = subprocess.run(["bash", "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True, timeout=900)
    if result.returncode != 0 or not result.stdout:
        raise SystemExit("benchmarks.frameworks: scripts/engine could not provide the framework image (see above)")
    return result.stdout.strip()


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.frameworks", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 edits per contender instead of 20")
    parser.add_argument("--edits", type=int, help="edits per contender")
    parser.add_argument("--only", help="comma-separated framework keys (flask,django,fastapi,gunicorn,bottle)")
    parser.add_argument("--modes", help="comma-separated contender kinds to run: own (the framework's reloader), "
                        "app, command (devbox's `app:` and `command:` ways); default all")
    parser.add_argument("--out", default=str(HERE / "results"), help="where results go (default benchmarks/results)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    settings = Settings.quick() if args.quick else Settings(edits=20)
    settings = replace(settings, rounds=1, start_timeout=START_TIMEOUT, **({"edits": args.edits} if args.edits else {}))
    devbox = Path(sys.executable).parent / "devbox"
    if not devbox.exists():
        print(f"benchmarks.frameworks: no devbox next to {sys.executable}; run it with the Python devbox is "
              "installed in (e.g. .venv/bin/python after scripts/venv)", file=sys.stderr)
        return 1
    if containers.engine_version() is None:
        print("benchmarks.frameworks: no Docker engine answers (start one: `bash scripts/engine`)", file=sys.stderr)
        return 1
    image = frameworks_image()
    proctree.make_sigint_default()
    signal.signal(signal.SIGTERM, _raise_interrupt)  # a killed harness still removes its containers
    run_id = uuid.uuid4().hex[:8]
    out = Path(args.out) / f"frameworks-{facts.now().replace(' ', '_').replace(':', '')}-{run_id}"
    (out / "logs").mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="frameworks-bench-"))
    tools = Tools(python=sys.executable, bin_dir=str(devbox.parent), run_id=run_id, site=workdir / "site", image=image)
    versions, results, started = Versions(), [], time.monotonic()
    print(f"benchmarks.frameworks: {len(CASES)} frameworks in {image}, {settings.edits} edits each; logs in {out}",
          flush=True)
    try:
        for case in [c for c in CASES if not args.only or c.key in args.only.split(",")]:
            rows = []
            for cls in contenders_of(case, args.modes.split(",") if args.modes else MODES):
                project = ExampleProject(workdir / cls.name, case).create()
                log = out / "logs" / f"{cls.name}.log"
                print(f"{time.monotonic() - started:5.0f} s  {case.framework}: {cls.label}", flush=True)
                rows.append(measure(cls(tools), project, versions, settings, log))
                print("       " + describe(rows[-1]), flush=True)
            results.append({"framework": case.framework, "rows": rows})
    except KeyboardInterrupt:
        print("benchmarks.frameworks: interrupted; every container of the run was removed", file=sys.stderr)
        return 130
    finally:
        containers.remove_run(run_id, f"bench-{run_id}-")
        shutil.rmtree(workdir, ignore_errors=True)
    meta = {"date": facts.now(), "machine": facts.machine(), "commit": facts.git_commit(REPO), "image": image,
            "settings": asdict(settings), "seconds": round(time.monotonic() - started, 1)}
    (out / "results.json").write_text(json.dumps({"meta": meta, "frameworks": results}, indent=1, default=str))
    m = meta["machine"]
    text = (f"Run {meta['date']}{' (--quick)' if args.quick else ''}: {m['cpu']}, {m['cores']} cores; devbox "
            f"{meta['commit']}, {frameworks_versions()}; {settings.edits} edits per contender; "
            f"{meta['seconds']:.0f} s in all.\n\n{table(results)}\n\n{NOTE}\n")
    (out / "RESULTS.md").write_text("# devbox with real frameworks\n\n" + text)
    print("\n" + text)
    if not (args.quick or args.edits or args.only) and update_readme(text, README_START, README_END):
        print("benchmarks.frameworks: table written to README.md")
    print(f"benchmarks.frameworks: raw results in {out / 'results.json'}")
    return 0


def frameworks_versions() -> str:
    """The pinned versions of the frameworks measured, from docker/frameworks.txt (the image's list)."""
    pins = dict(line.split("==", 1) for line in (REPO / "docker" / "frameworks.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    return ", ".join(f"{name} {pins[name]}" for name in ("flask", "django", "fastapi", "uvicorn", "gunicorn", "bottle")
                     if name in pins)


def describe(record: dict) -> str:
    s = summary(record)
    if not s:
        return f"not served: {record['error']}"
    return (f"p50 {report.fmt(s['p50_ms'], 'ms')}, p95 {report.fmt(s['p95_ms'], 'ms')}, "
            f"{len(record['edit_series']['failures'])} failed requests, {s['missed']} of {s['edits']} never served")


if __name__ == "__main__":
    sys.exit(main())
