"""The run: every contender on the same projects, interleaved round by round, raw results out.

Round 1 takes, per contender, a plain session (idle CPU, then edits), a session on the tree with
20,000 extra files (idle CPU) and a session with the heavy import (edits). Later rounds repeat
the edit sessions. Each round starts the rotation one contender later, so none always follows
the same neighbour and machine noise spreads over all of them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Dict, List

from benchmarks import containers
from benchmarks.contenders import Contender, Tools
from benchmarks.measure import Session, Settings, StartFailed, Versions
from benchmarks.project import Project

PLAIN, FILES, HEAVY = "plain", "files", "heavy"


def projects(workdir: Path, settings: Settings, site: Path) -> Dict[str, Project]:
    """The shared projects, created once; every contender serves them in turn."""
    made = {PLAIN: Project(workdir / PLAIN, site=site).create()}
    if settings.extra_files:
        made[FILES] = Project(workdir / FILES, extra_files=settings.extra_files, site=site).create()
    if settings.heavy_edits:
        made[HEAVY] = Project(workdir / HEAVY, heavy=True, site=site).create()
    return made


def schedule(names: List[str], settings: Settings) -> List[tuple]:
    """(round, contender name, scenario) in the order they run."""
    steps = []
    for rnd in range(settings.rounds):
        shift = rnd % len(names)
        for name in names[shift:] + names[:shift]:
            steps.append((rnd, name, PLAIN))
            if rnd == 0 and settings.extra_files and settings.idle_seconds:
                steps.append((rnd, name, FILES))
            if settings.heavy_edits:
                steps.append((rnd, name, HEAVY))
    return steps


def run_session(contender: Contender, project: Project, scenario: str, rnd: int, versions: Versions,
                settings: Settings, log_path: Path) -> dict:
    """One session's measurements, as a JSON-able dict."""
    record = {"round": rnd, "scenario": scenario, "log": str(log_path)}
    with Session(contender, project, versions, settings, str(log_path)) as session:
        record["files"] = project.file_count()
        if scenario in (PLAIN, FILES) and rnd == 0 and settings.idle_seconds:
            record["idle"] = session.idle_cpu()
        if scenario == PLAIN:
            record["edit_series"] = session.edits(settings.edits)
        elif scenario == HEAVY:
            record["edit_series"] = session.edits(settings.heavy_edits)
    record["startup_s"] = session.startup_s
    record["stop_s"] = session.stop_s
    if session.exited_early:
        record["exited_early"] = True
    return record


def run(classes: List[type], tools: Tools, settings: Settings, workdir: Path, logs: Path,
        say: Callable[[str], None] = print) -> dict:
    """Run `classes` under `settings`; the raw results. Containers of the run are removed at the
    end whatever happens."""
    logs.mkdir(parents=True, exist_ok=True)
    docker_version = containers.engine_version() if any(c.needs_docker for c in classes) else None
    contenders = {c.name: c(tools) for c in classes}
    results = {name: {"label": c.label, "kind": c.kind, "how": c.how, "sessions": [], "errors": []}
               for name, c in contenders.items()}
    runnable = []
    for name, contender in contenders.items():
        if contender.needs_docker and docker_version is None:
            results[name]["errors"].append("no Docker engine answers (start one: `. scripts/engine; engine_ensure`)")
        else:
            runnable.append(name)
    made = projects(workdir, settings, tools.site)
    versions = Versions()
    failed_start = set()
    started = time.monotonic()
    try:
        if docker_version and tools.image:
            say(f"building the benchmark image {tools.image}")
            containers.build_image(tools.image, tools.base_image, tools.site, tools.run_id)
        steps = schedule(runnable, settings)
        for index, (rnd, name, scenario) in enumerate(steps, 1):
            if name in failed_start and scenario != PLAIN:
                continue  # a contender that failed to start once is not retried in every scenario
            log_path = logs / f"{name}-{scenario}-r{rnd + 1}.log"
            say(f"[{index}/{len(steps)}] {time.monotonic() - started:5.0f} s  round {rnd + 1} {name} {scenario}")
            try:
                record = run_session(contenders[name], made[scenario], scenario, rnd, versions, settings, log_path)
            except StartFailed as exc:
                failed_start.add(name)
                results[name]["errors"].append(str(exc))
                say(f"  {exc}")
                continue
            results[name]["sessions"].append(record)
            if record.get("exited_early"):
                results[name]["errors"].append(f"exited during the {scenario} session of round {rnd + 1} (see {log_path})")
            say("  " + describe(record))
    finally:
        for contender in contenders.values():
            contender.cleanup()
        if docker_version:
            containers.remove_run(tools.run_id, f"bench-{tools.run_id}-")
            if tools.image:
                containers.remove_image(tools.image)
    return {"contenders": results, "docker_version": docker_version, "seconds": round(time.monotonic() - started, 1)}


def describe(record: dict) -> str:
    """A one-line progress summary of a session record."""
    parts = [f"up in {record['startup_s']:.2f} s"]
    if "idle" in record:
        parts.append(f"idle {record['idle']['percent']:.2f}% CPU ({record['files']} files)")
    series = record.get("edit_series")
    if series:
        lat = sorted(series["latencies_ms"])
        if lat:
            parts.append(f"edits p50 {lat[len(lat) // 2]:.0f} ms max {lat[-1]:.0f} ms")
        parts.append(f"{len(series['failures'])} failed of {series['requests']} requests, {series['missed']} missed")
    parts.append("EXITED before the stop (see its log)" if record.get("exited_early")
                 else f"stopped in {record['stop_s']:.2f} s")
    return ", ".join(parts)
