"""Raw results -> per-contender numbers -> a markdown table with ratios against the best peer.

Ratios compare each contender with the best *peer* of the same run in that column (lower is
better everywhere): the floor and devbox are measured against the peers, never against each other.
"""

from __future__ import annotations

import math
import re
import statistics
from typing import Dict, List, Optional

from benchmarks.contenders import PEER

# (key, header, unit) of every column, in table order.
COLUMNS = (
    ("p50_ms", "edit→new response p50", "ms"),
    ("p95_ms", "p95", "ms"),
    ("failed_per_reload", "failed requests / reload", ""),
    ("missed", "edits never served (10 s)", "count"),
    ("idle_cpu", "idle CPU", "%"),
    ("idle_cpu_files", "idle CPU, +20k files", "%"),
    ("stop_s", "time to stop", "s"),
    ("heavy_p50_ms", "heavy import p50", "ms"),
    ("heavy_p95_ms", "heavy p95", "ms"),
)
DEVBOX_RELOADED = re.compile(r"reloaded in (\d+(?:\.\d+)?) ms")


def percentile(values: List[float], q: float) -> Optional[float]:
    """Linear-interpolated percentile (q in 0..100) of `values`; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarize(contender: dict) -> dict:
    """The table's numbers for one contender's raw record."""
    sessions = contender["sessions"]
    plain = [s["edit_series"] for s in sessions if s["scenario"] == "plain" and "edit_series" in s]
    heavy = [s["edit_series"] for s in sessions if s["scenario"] == "heavy" and "edit_series" in s]
    latencies = [v for series in plain for v in series["latencies_ms"]]
    heavy_latencies = [v for series in heavy for v in series["latencies_ms"]]
    all_series = plain + heavy
    edits = sum(s["edits"] for s in all_series)
    failures = [f for s in all_series for f in s["failures"]]
    kinds: Dict[str, int] = {}
    for failure in failures:
        kinds[failure["outcome"]] = kinds.get(failure["outcome"], 0) + 1
    idle = [s["idle"]["percent"] for s in sessions if s["scenario"] == "plain" and "idle" in s]
    idle_files = [s["idle"]["percent"] for s in sessions if s["scenario"] == "files" and "idle" in s]
    stops = [s["stop_s"] for s in sessions if s.get("stop_s") is not None]
    startups = [s["startup_s"] for s in sessions if s.get("startup_s") is not None]
    return {
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "failed_per_reload": len(failures) / edits if edits else None,
        "missed": sum(s["missed"] for s in all_series) if all_series else None,
        "idle_cpu": statistics.median(idle) if idle else None,
        "idle_cpu_files": statistics.median(idle_files) if idle_files else None,
        "stop_s": statistics.median(stops) if stops else None,
        "heavy_p50_ms": percentile(heavy_latencies, 50),
        "heavy_p95_ms": percentile(heavy_latencies, 95),
        "startup_s": statistics.median(startups) if startups else None,
        "edits": edits,
        "served": len(latencies) + len(heavy_latencies),
        "failure_kinds": kinds,
        "requests": sum(s["requests"] for s in all_series),
    }


def best_peer(summaries: Dict[str, dict], kinds: Dict[str, str], key: str) -> Optional[float]:
    values = [s[key] for name, s in summaries.items()
              if kinds[name] == PEER and s[key] is not None and not math.isinf(s[key])]
    return min(values) if values else None


def fmt(value: Optional[float], unit: str) -> str:
    if value is None:
        return "–"
    if math.isinf(value):
        return "did not stop"
    if unit == "ms":
        return f"{value:.0f} ms"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "%":
        return f"{value:.2f}%"
    if unit == "count":
        return f"{value:.0f}"
    return f"{value:.2f}"


def ratio(value: Optional[float], best: Optional[float]) -> str:
    if value is None or best is None or math.isinf(value):
        return ""
    if best == 0:
        return " (=)" if value == 0 else ""
    return f" ({value / best:.2f}×)"


def table(results: dict) -> str:
    """The markdown table: one row per contender, each cell `value (ratio to the best peer)`."""
    contenders = results["contenders"]
    summaries = {name: summarize(c) for name, c in contenders.items()}
    kinds = {name: c["kind"] for name, c in contenders.items()}
    bests = {key: best_peer(summaries, kinds, key) for key, _, _ in COLUMNS}
    lines = ["| contender | " + " | ".join(h for _, h, _ in COLUMNS) + " |",
             "|---|" + "---:|" * len(COLUMNS)]
    for name, contender in contenders.items():
        summary = summaries[name]
        label = f"**{contender['label']}**" if contender["kind"] != PEER else contender["label"]
        if not contender["sessions"]:
            reason = contender["errors"][0] if contender["errors"] else "not run"
            lines.append(f"| {label} | not measured: {reason} |" + " |" * (len(COLUMNS) - 1))
            continue
        cells = []
        for key, _, unit in COLUMNS:
            cell = fmt(summary[key], unit)
            if key == "missed" and summary[key] is not None:
                cell = f"{summary[key]} of {summary['edits']}"
            cells.append(cell + ("" if key == "missed" else ratio(summary[key], bests[key])))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def legend(results: dict) -> str:
    """What each contender does on a save, one line each."""
    return "\n".join(f"- **{c['label']}**: {c['how']}" for c in results["contenders"].values())


def devbox_self_reported(log_text: str) -> List[float]:
    """The `reloaded in N ms` figures devbox printed (its watcher's own view of each reload)."""
    return [float(m) for m in DEVBOX_RELOADED.findall(log_text)]


def conditions(results: dict, meta: dict) -> str:
    """When, where and with what: the paragraph above every table."""
    settings = meta["settings"]
    v = meta["versions"]
    peers = ", ".join(f"{n} {v[n]}" for n in ("bottle", "uvicorn", "watchfiles", "werkzeug", "gunicorn") if n in v)
    m = meta["machine"]
    return (
        f"Run {meta['date']}{' (--quick)' if meta['quick'] else ''}: {m['cpu']}, {m['cores']} cores, "
        f"{m['memory_gib']} GiB, Linux {m['kernel']}; load average {meta['load_before']} before, "
        f"{meta.get('load_after')} after. Python {v.get('python', '?')}, devbox {v.get('devbox', '?')} "
        f"({meta['commit']}), {peers}, Docker engine {results.get('docker_version') or 'none'}. "
        f"{settings['rounds']} round(s) of {settings['edits']} edits plus {settings['heavy_edits']} with the "
        f"heavy import per contender, interleaved; idle windows of {settings['idle_seconds']:g} s; "
        f"{results['seconds']:.0f} s in all.")


RATIO_NOTE = ("Lower is better everywhere; in brackets, the ratio to the best peer in that column "
              "(the floor and devbox rows are not peers).")

DEFINITIONS = """- edit→new response: t0 right after app.py is saved (truncate and write; its size changes and its
  mtime moves forward on every edit), then a new connection every 5 ms until the body names the
  new version. An edit not served within 10 s counts as never served.
- failed requests / reload: refused, reset and 5xx responses seen by a second client that
  requests `/` every 10 ms (a new connection each) during the edits of both apps, divided by the
  number of edits.
- idle CPU: user+system time of the contender's whole process tree (children and reaped
  children included; for a container, its processes and its containerd shim) over the idle
  window, from /proc, once the tree has gone quiet after start; % of one core. "+20k files":
  the same with 20,000 extra .py files in 200 directories of the watched tree.
- time to stop: SIGINT to the contender's process group (what Ctrl-C does) until its last
  process is gone; `docker stop` for the docker restart row.
- heavy import: the same edits with an app that imports a module costing 0.4 s of CPU at import,
  installed outside the watched tree (on PYTHONPATH natively, in the image for containers)."""


def readme_block(results: dict, meta: dict) -> str:
    """What README.md shows: conditions and table; the rest is in benchmarks/RESULTS.md."""
    return "\n".join([conditions(results, meta), "", table(results), "",
                      RATIO_NOTE + " Definitions, what each contender does and where devbox's reload time "
                      "goes: [benchmarks/RESULTS.md](benchmarks/RESULTS.md).", ""])


def document(results: dict, meta: dict) -> str:
    """The full markdown page: conditions, table, definitions, legend, devbox's reload path."""
    failures = "; ".join(f"{c['label']}: " + ", ".join(f"{k} {n}" for k, n in summarize(c)["failure_kinds"].items())
                         for c in results["contenders"].values() if summarize(c)["failure_kinds"])
    errors = [f"- {c['label']}: {e}" for c in results["contenders"].values() for e in c["errors"]]
    parts = [conditions(results, meta), "", table(results), "", RATIO_NOTE, "", DEFINITIONS]
    if failures:
        parts += ["", f"Failed requests by kind: {failures}."]
    parts += ["", "What each contender does on a save:", "", legend(results)]
    stages = [b for b in results.get("breakdown") or [] if "median" in b]
    if stages:
        from benchmarks.breakdown import render

        parts += ["", "Where devbox's reload time goes (medians; `python -m benchmarks.breakdown`):", ""]
        for result in stages:
            parts += [render(result), ""]
    if errors:
        parts += ["", "Problems seen during the run:", *errors]
    return "\n".join(parts) + "\n"
