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


def document(results: dict, meta: dict) -> str:
    """The full markdown page: heading, conditions, table, legend, definitions."""
    settings = meta["settings"]
    v = meta["versions"]
    peers = ", ".join(f"{n} {v[n]}" for n in ("bottle", "uvicorn", "watchfiles", "werkzeug", "gunicorn") if n in v)
    m = meta["machine"]
    failures = ", ".join(f"{name}: " + ", ".join(f"{k} {n}" for k, n in summarize(c)["failure_kinds"].items())
                         for name, c in results["contenders"].items() if summarize(c)["failure_kinds"])
    errors = [f"- {c['label']}: {e}" for c in results["contenders"].values() for e in c["errors"]]
    parts = [
        f"Run {meta['date']}{' (--quick)' if meta['quick'] else ''}: {m['cpu']}, {m['cores']} cores, "
        f"{m['memory_gib']} GiB, Linux {m['kernel']}; load average {meta['load_before']} before, "
        f"{meta['load_after']} after. Python {v.get('python', '?')}, devbox {v.get('devbox', '?')} "
        f"({meta['commit']}), {peers}, Docker engine {results.get('docker_version') or 'none'}. "
        f"{settings['rounds']} round(s) of {settings['edits']} edits plus {settings['heavy_edits']} with the "
        f"heavy import per contender, interleaved; idle windows of {settings['idle_seconds']:g} s; "
        f"{results['seconds']:.0f} s in all.",
        "",
        table(results),
        "",
        "Lower is better everywhere; in brackets, the ratio to the best peer in that column "
        "(the floor and devbox rows are not peers). Failed requests count refused, reset and 5xx "
        "responses seen by a second client requesting `/` every 10 ms during the edits of both apps"
        + (f" ({failures})" if failures else "") + ".",
        "",
        legend(results),
    ]
    stages = [b for b in results.get("breakdown") or [] if "median" in b]
    if stages:
        from benchmarks.breakdown import render

        parts += ["", "Where devbox's reload time goes (medians; `python -m benchmarks.breakdown`):", ""]
        for result in stages:
            parts += [render(result), ""]
    if errors:
        parts += ["", "Problems seen during the run:", *errors]
    return "\n".join(parts) + "\n"
