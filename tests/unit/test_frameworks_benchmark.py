"""benchmarks/frameworks.py without an engine: its edits, its markers, and a table that reports a
contender that never served instead of failing on it."""

from benchmarks import frameworks


def case(key):
    return next(c for c in frameworks.CASES if c.key == key)


def test_an_edit_rewrites_the_message_line_only_and_changes_the_size(tmp_path):
    project = frameworks.ExampleProject(tmp_path / "p", case("django")).create()
    before = project.app_path.read_text()
    project.write("v7")
    after = project.app_path.read_text()
    assert 'MESSAGE = "bench v7!"' in after
    def others(text):
        return [line for line in text.splitlines() if "MESSAGE =" not in line]

    assert others(after) == others(before)
    sizes = set()
    for n in range(3):
        project.write(f"v{8 + n}")
        sizes.add(project.app_path.stat().st_size)
    assert len(sizes) == 3
    assert project.marker("v1") not in b'{"message":"bench v12!"}'
    assert project.marker("v12") in b'{"message":"bench v12!"}'


def test_every_example_has_the_line_its_edits_rewrite():
    for c in frameworks.CASES:
        assert frameworks.MESSAGE_LINE.search((frameworks.APPS / c.example / c.edited).read_text()), c.example


def record(label, kind, latencies=(), error=None):
    rec = {"label": label, "kind": kind, "how": "", "log": "x.log"}
    if latencies:
        rec["edit_series"] = {"edits": len(latencies), "latencies_ms": list(latencies), "missed": 0,
                              "requests": 100, "failures": [{"outcome": "refused"}]}
    if error:
        rec["error"] = error
    return rec


def test_the_table_gives_ratios_to_the_own_reloader_and_names_what_did_not_serve():
    results = [{"framework": "Flask", "rows": [
        record("flask run --debug", frameworks.PEER, [1000, 1000, 1000]),
        record("devbox, app: app:app", frameworks.DEVBOX, [40, 40, 40]),
        record("devbox, command: flask run", frameworks.DEVBOX,
               error="nothing served within 20 s: Address already in use"),
    ]}]
    lines = frameworks.table(results).splitlines()
    assert "| Flask | flask run --debug | 1000 ms | 1000 ms | 0.33 | 0 of 3 |" in lines
    assert "| Flask | **devbox, app: app:app** | 40 ms (0.04×) | 40 ms (0.04×) | 0.33 | 0 of 3 |" in lines
    assert any("not served: nothing served within 20 s: Address already in use" in line for line in lines)


def test_why_not_served_quotes_the_apps_last_exception(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("[devbox] started\n[app]    Traceback (most recent call last):\n"
                   "[app]    OSError: [Errno 9] Bad file descriptor\n[devbox] ✗ the app exited with status 1\n")
    assert frameworks.why_not_served(log) == ": OSError: [Errno 9] Bad file descriptor (log: x.log)"
    assert frameworks.why_not_served(tmp_path / "missing.log") == " (log: missing.log)"
