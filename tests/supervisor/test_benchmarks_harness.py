"""The benchmark harness measures what it claims: run for real on the kill-and-respawn floor.

No network, no Docker, no benchmarks/.venv: the floor is a wsgiref server started with this
interpreter, so the whole run (projects, sessions, edits, failure client, idle CPU, stop, report)
takes a few seconds.
"""

import os
import sys

from benchmarks import contenders, proctree, report, runner
from benchmarks.measure import Settings
from benchmarks.project import Project

TINY = Settings(rounds=1, edits=2, heavy_edits=0, idle_seconds=0.3, extra_files=0, settle=0.1, gap=(0.01, 0.02),
                start_timeout=20.0, quiet_max=0.5)


def tools(tmp_path):
    return contenders.Tools(python=sys.executable, bin_dir=os.path.dirname(sys.executable), run_id="test",
                            site=tmp_path / "site")


def test_floor_two_edits_measured_and_reported(tmp_path):
    said = []
    results = runner.run([contenders.KillRespawn], tools(tmp_path), TINY, tmp_path / "work", tmp_path / "logs",
                         say=said.append)

    floor = results["contenders"]["respawn"]
    assert floor["errors"] == []
    (session,) = floor["sessions"]
    series = session["edit_series"]
    assert series["missed"] == 0
    assert len(series["latencies_ms"]) == 2 and all(0 < ms < 10_000 for ms in series["latencies_ms"])
    assert series["requests"] > 0  # the failure client ran alongside the edits
    assert session["idle"]["wall_s"] >= TINY.idle_seconds
    assert 0 <= session["stop_s"] < 5

    summary = report.summarize(floor)
    assert summary["edits"] == 2 and summary["served"] == 2 and summary["missed"] == 0
    assert summary["p50_ms"] is not None and summary["p95_ms"] >= summary["p50_ms"]
    table = report.table(results)
    assert "kill and respawn (floor)" in table and "0 of 2" in table  # never-served column


def test_floor_leaves_no_process_behind(tmp_path):
    runner.run([contenders.KillRespawn], tools(tmp_path), TINY, tmp_path / "work", tmp_path / "logs",
               say=lambda line: None)
    serving = [pid for pid in proctree.tree([os.getpid()]) if pid != os.getpid()
               and "serve_wsgiref" in open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")]
    assert serving == []


def test_edits_change_size_and_move_mtime_forward(tmp_path):
    project = Project(tmp_path / "p").create()
    sizes, mtimes = [], []
    for n in range(8):
        project.write(f"v{n}")
        stat = os.stat(project.app_path)
        sizes.append(stat.st_size)
        mtimes.append(stat.st_mtime_ns)
    assert all(a != b for a, b in zip(sizes, sizes[1:]))
    assert all(a < b for a, b in zip(mtimes, mtimes[1:]))


def one_edit(ms, kind=contenders.PEER):
    """A contender's raw record with one plain edit served in `ms`."""
    series = {"edits": 1, "latencies_ms": [ms], "missed": 0, "requests": 1, "failures": []}
    return {"label": "x", "kind": kind, "how": "", "errors": [],
            "sessions": [{"scenario": "plain", "startup_s": 0.1, "stop_s": 0.1, "edit_series": series}]}


def test_ratios_are_against_the_best_peer_only():
    results = {"contenders": {"slow": one_edit(400.0), "fast": one_edit(100.0),
                              "floor": one_edit(50.0, kind=contenders.FLOOR)}}
    table = report.table(results)
    assert "400 ms (4.00×)" in table and "100 ms (1.00×)" in table and "50 ms (0.50×)" in table
