"""python -m benchmarks [--quick] [--only NAME,...]: devbox side by side with today's reloaders.

Installs the peers into benchmarks/.venv, runs every contender on the same tiny app, interleaved,
and writes benchmarks/results/<date>/results.json and RESULTS.md. A full run of every contender
also updates benchmarks/RESULTS.md and the Benchmarks section of README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import uuid
from dataclasses import asdict, replace
from pathlib import Path

from benchmarks import breakdown, contenders, facts, peers_venv, proctree, report, runner
from benchmarks.measure import Settings

HERE = Path(__file__).resolve().parent
README = HERE.parent / "README.md"
README_START = "<!-- benchmarks:start -->"
README_END = "<!-- benchmarks:end -->"


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run: few edits, short idle windows (~3 min)")
    parser.add_argument("--only", default="", help=f"comma-separated contenders ({','.join(contenders.NAMES)})")
    parser.add_argument("--rounds", type=int, help="rounds of edits (default 3, quick 1)")
    parser.add_argument("--edits", type=int, help="edits per round (default 10, quick 3)")
    parser.add_argument("--idle", type=float, help="seconds of each idle CPU window (default 20, quick 3)")
    parser.add_argument("--out", default=str(HERE / "results"), help="where results go (default benchmarks/results)")
    parser.add_argument("--render", metavar="RESULTS_JSON",
                        help="run nothing: write the tables again from a results.json (e.g. after a report change)")
    return parser.parse_args(argv)


def settings_from(args) -> Settings:
    settings = Settings.quick() if args.quick else Settings()
    changes = {k: v for k, v in (("rounds", args.rounds), ("edits", args.edits), ("idle_seconds", args.idle))
               if v is not None}
    return replace(settings, **changes)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def update_readme(text: str, start_marker: str = README_START, end_marker: str = README_END) -> bool:
    """Replace the table between the README's benchmark markers; False when they are missing."""
    if not README.exists():
        return False
    readme = README.read_text()
    start, end = readme.find(start_marker), readme.find(end_marker)
    if start < 0 or end < start:
        return False
    README.write_text(readme[:start + len(start_marker)] + "\n" + text + readme[end:])
    return True


def devbox_breakdown(classes, python: str, settings: Settings, logs: Path, results: dict) -> list:
    """devbox's reload path stage by stage, for each devbox contender that was run."""
    names = {c.name for c in classes}
    runs = []
    if "devbox-run" in names:
        runs += [(False, False)] + ([(False, True)] if settings.heavy_edits >= 5 else [])
    if "devbox-up" in names and results.get("docker_version"):
        runs.append((True, False))
    found = []
    for container, heavy in runs:
        print(f"devbox reload path, stage by stage: {'container' if container else 'native'}"
              f"{', heavy import' if heavy else ''}", flush=True)
        log = logs / f"breakdown-{'up' if container else 'run'}{'-heavy' if heavy else ''}.log"
        found.append(breakdown.collect(python, max(settings.edits, 3), container, heavy, log))
    return found


def publish(results: dict, meta: dict, out: Path) -> None:
    """RESULTS.md next to the raw results; for a complete full run also benchmarks/RESULTS.md and
    the README's table."""
    document = report.document(results, meta)
    (out / "RESULTS.md").write_text("# devbox benchmarks\n\n" + document)
    print("\n" + document)
    complete = not meta["quick"] and not meta["only"] and not any(c["errors"] for c in results["contenders"].values())
    if complete:
        (HERE / "RESULTS.md").write_text("# devbox benchmarks\n\n`python -m benchmarks` (or `benchmarks/run`) "
                                         "reruns this.\n\n" + document)
        where = "benchmarks/RESULTS.md" + (" and README.md" if update_readme(report.readme_block(results, meta)) else "")
        print(f"benchmarks: table written to {where}")


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.render:
        raw = json.loads(Path(args.render).read_text())
        publish(raw, raw.pop("meta"), Path(args.render).parent)
        return 0
    proctree.make_sigint_default()
    signal.signal(signal.SIGTERM, _raise_interrupt)  # a killed harness still cleans up
    try:
        classes = contenders.by_names([n for n in args.only.split(",") if n]) if args.only else list(contenders.ALL)
    except ValueError as exc:
        print(f"benchmarks: {exc}", file=sys.stderr)
        return 2
    settings = settings_from(args)
    try:
        python = peers_venv.ensure()
    except peers_venv.VenvError as exc:
        print(f"benchmarks: {exc}", file=sys.stderr)
        return 1
    run_id = uuid.uuid4().hex[:8]
    stamp = facts.now().replace(" ", "_").replace(":", "")
    out = Path(args.out) / f"{stamp}-{run_id}"
    workdir = Path(tempfile.mkdtemp(prefix="reload-bench-"))
    tools = contenders.Tools(python=str(python), bin_dir=str(peers_venv.bin_dir()), run_id=run_id,
                             site=workdir / "site", image=f"devbox-bench:{run_id}",
                             base_image=os.environ.get("DEVBOX_IMAGE", "devbox-python:bookworm"))
    meta = {"date": facts.now(), "quick": args.quick, "only": args.only, "settings": asdict(settings),
            "machine": facts.machine(), "versions": facts.versions(str(python)), "commit": facts.git_commit(HERE.parent),
            "load_before": facts.load_average(), "run_id": run_id}
    print(f"benchmarks: {len(classes)} contenders, results in {out}", flush=True)
    try:
        results = runner.run(classes, tools, settings, workdir, out / "logs", say=lambda s: print(s, flush=True))
    except KeyboardInterrupt:
        print("benchmarks: interrupted; every process and container of the run was removed", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["breakdown"] = devbox_breakdown(classes, str(python), settings, out / "logs", results)
    meta["load_after"] = facts.load_average()
    for contender in results["contenders"].values():
        if contender["kind"] == contenders.DEVBOX:
            contender["self_reported_ms"] = [ms for s in contender["sessions"]
                                             for ms in report.devbox_self_reported(Path(s["log"]).read_text(errors="replace"))]
        contender["summary"] = report.summarize(contender)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"meta": meta, **results}, indent=1, default=str))
    publish(results, meta, out)
    print(f"benchmarks: raw results in {out / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
