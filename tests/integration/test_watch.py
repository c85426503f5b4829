"""The host watcher under a foreground `devbox up`: real engine, real files, real HTTP.

Reloads are counted from the `↻ ... reloaded in N ms` lines of `devbox up`'s output, and the
child's pid tells a restart from none. "Nothing happened" is shown with a sentinel: a later
change that does reload, after which the count must include that one only.
"""

import hashlib
import os
import re
import shutil
import subprocess

import pytest

from tests.waiting import wait_until

WATCH_APP = '''
import hashlib
import os

BODY = "v1"
TEMPLATE = open("templates/page.html").read().strip() if os.path.exists("templates/page.html") else "-"
# What pkg/ held when this child imported: the burst test's final state.
PKG = hashlib.sha1(b"".join(open(os.path.join("pkg", n), "rb").read()
                            for n in sorted(os.listdir("pkg")))).hexdigest() if os.path.isdir("pkg") else "-"


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/pid":
        text = str(os.getpid())
    elif path == "/page":
        with open("static/page.html") as f:  # read per request: no restart needed
            text = f.read().strip()
    elif path == "/template":  # read once, as Jinja and Django's cached loader do
        text = TEMPLATE
    elif path == "/env":
        text = os.environ.get("GREETING", "-")
    elif path == "/pkg":
        text = PKG
    else:
        text = BODY
    data = (text + "\\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]
'''

RELOAD_LINE = re.compile(r"\[devbox\] ↻ (.+) -> reloaded in (\d+) ms")


class Up:
    """A foreground `devbox up -v` on `project`, and what it printed."""

    def __init__(self, project, first_body="v1"):
        self.project = project
        self.process = project.spawn("up", "-v")
        wait_until(lambda: "watching" in self.output(), 90, 0.05, "devbox up watching")
        project.wait_body(f"{first_body}\n")

    def output(self):
        return self.project.output(self.process)

    def reloads(self):
        """What each reload line said changed, in order."""
        return [m.group(1) for m in RELOAD_LINE.finditer(self.output())]

    def restarts(self):
        """How many times the supervisor began a reload, including those whose new child crashed."""
        return self.output().count("supervisor reloading")

    def wait_reloads(self, count, timeout=30):
        return wait_until(lambda: len(self.reloads()) >= count and self.reloads(), timeout, 0.02,
                          f"{count} reload lines")

    def pid(self):
        status, body = self.project.get("/pid")
        assert status == 200
        return int(body)

    def sentinel(self, expected_reloads, body="sentinel"):
        """A change that reloads; afterwards exactly `expected_reloads` reload lines exist."""
        set_body(self.project, body)
        self.project.wait_body(f"{body}\n")
        reloads = self.wait_reloads(expected_reloads)
        assert len(reloads) == expected_reloads, reloads
        return reloads


def set_body(project, body):
    path = project.root / "app.py"
    path.write_text(re.sub(r'BODY = ".*"', f'BODY = "{body}"', path.read_text()))


@pytest.fixture
def up(project, docker_client):
    project.write("app.py", WATCH_APP)
    project.write("static/page.html", "page one\n")
    project.write("templates/page.html", "template one\n")
    yield lambda: Up(project)


def test_a_module_edit_is_served_with_one_line_saying_what_and_how_long(project, up):
    box = up()
    before = box.pid()
    set_body(project, "v2")
    project.wait_body("v2\n")
    assert box.wait_reloads(1) == ["app.py changed"]
    assert box.pid() != before
    line = next(line for line in box.output().splitlines() if "reloaded in" in line)
    assert re.search(r"reloaded in \d+ ms \(save->batch \d+, ->SIGHUP \d+, respawn \d+, ready->log line \+\d+ ms\)",
                     line), line


def test_a_static_file_under_no_reload_is_served_without_a_restart(project, up):
    box = up()
    before = box.pid()
    project.write("static/page.html", "page two\n")
    project.wait_body("page two\n", path="/page")
    wait_until(lambda: "~ static/page.html synced (no restart)" in box.output(), 10, 0.02, "the sync line")
    assert box.pid() == before
    box.sentinel(1)


def test_a_template_edit_reloads_so_a_cached_template_is_never_served(project, up):
    box = up()
    before = box.pid()
    project.write("templates/page.html", "template two\n")
    project.wait_body("template two\n", path="/template")
    assert box.wait_reloads(1) == ["templates/page.html changed"]
    assert box.pid() != before


def test_a_gitignored_file_changes_nothing(project, up):
    project.write(".gitignore", "*.log\nbuild/\n")
    project.write("build/out.py", "x = 1\n")
    box = up()
    before = box.pid()
    project.write("debug.log", "something happened\n")
    project.write("build/out.py", "x = 2\n")
    reloads = box.sentinel(1)
    assert reloads == ["app.py changed"]
    assert "debug.log" not in box.output() and "build/out.py" not in box.output()
    assert box.pid() != before  # the sentinel's restart, the only one


def test_touch_and_saves_without_changes_cause_no_reload(project, up):
    box = up()
    app = project.root / "app.py"
    os.utime(app)  # touch
    app.write_bytes(app.read_bytes())  # save without edits
    tmp = project.root / ".app.py.new"  # an editor's atomic save of the same bytes
    tmp.write_bytes(app.read_bytes())
    os.replace(tmp, app)
    wait_until(lambda: "= app.py saved without changes; no reload" in box.output(), 10, 0.02, "the -v note")
    assert box.sentinel(1) == ["app.py changed"]


def test_a_rename_save_reloads(project, up):
    box = up()
    tmp = project.root / "app.py.tmp-1234"
    tmp.write_text(re.sub(r'BODY = ".*"', 'BODY = "renamed"', (project.root / "app.py").read_text()))
    os.replace(tmp, project.root / "app.py")
    project.wait_body("renamed\n")
    assert box.wait_reloads(1) == ["app.py changed"]


def test_fifty_rapid_edits_end_with_the_last_one_served(project, up):
    box = up()
    for rounds in range(3):
        for n in range(50):
            set_body(project, f"r{rounds}-{n}")
        project.wait_body(f"r{rounds}-49\n", timeout=10)
        count = len(box.wait_reloads(1))
        # The last edit was served: whatever was in flight, one trailing reload took the final text.
        assert count <= 2 * (rounds + 1), box.reloads()


def test_a_git_checkout_of_1000_files_reloads_at_most_twice_and_serves_the_final_tree(project, up):
    git = ["git", "-c", "user.email=t@example.invalid", "-c", "user.name=t", "-c", "commit.gpgsign=false"]

    def run(*args):
        subprocess.run(git + list(args), cwd=project.root, check=True, capture_output=True)

    for n in range(1000):
        project.write(f"pkg/m{n:04}.py", f"VALUE = 'a{n}'\n")
    run("init", "-q", "-b", "main")
    run("add", "-A")
    run("commit", "-qm", "a")
    run("checkout", "-qb", "other")
    for n in range(1000):
        project.write(f"pkg/m{n:04}.py", f"VALUE = 'b{n}'\n")
    run("commit", "-qam", "b")
    expected = hashlib.sha1(b"".join((project.root / "pkg" / f"m{n:04}.py").read_bytes()
                                     for n in range(1000))).hexdigest()
    run("checkout", "-q", "main")
    box = up()
    before = len(box.reloads()), box.restarts()
    run("checkout", "-q", "other")  # rewrites all 1000 files
    wait_until(lambda: project.get("/pkg") == (200, expected + "\n"), 30, 0.02, "the checked-out tree served")
    set_body(project, "sentinel")
    project.wait_body("sentinel\n")
    wait_until(lambda: box.reloads()[-1:] == ["app.py changed"], 10, 0.02, "the sentinel's own reload line")
    restarts = box.restarts() - before[1] - 1  # a restart whose child crashed (a half-written tree) counts
    burst = box.reloads()[before[0]:-1]
    assert 1 <= restarts <= 2 and 1 <= len(burst) <= 2, box.output()
    assert all(re.fullmatch(r"\d+ files changed \(pkg/m\d+\.py, pkg/m\d+\.py, \.\.\.\)", r) for r in burst), burst


def test_requirements_change_rebuilds_the_image_and_serves_again(project, docker_client, test_image):
    project.write("app.py", WATCH_APP)
    project.write("templates/page.html", "page one\n")
    project.write("requirements.txt", "# nothing to install\n")
    project.write("docker/Dockerfile", f"FROM {test_image}\nCOPY requirements.txt /opt/requirements.txt\n")
    project.write("devbox.yml", f"name: {project.name}\nbuild: {{context: ., dockerfile: docker/Dockerfile}}\n"
                                f"app: app:app\nports: ['{project.port}']\n")
    box = Up(project)
    first = docker_client.containers.get(f"{project.name}-devbox").id
    project.write("requirements.txt", "# still nothing, but different\n")
    wait_until(lambda: "image rebuilt in" in box.output(), 120, 0.1, "the rebuild")
    assert "⚙ requirements.txt changed -> rebuilding image" in box.output()
    project.wait_body("v1\n")
    assert docker_client.containers.get(f"{project.name}-devbox").id != first
    box.sentinel(1)  # and the new container reloads on save like the old one


LIB_APP = '''
try:
    from lib.extra import TEXT
except ImportError:
    TEXT = "no lib"


def app(environ, start_response):
    data = (TEXT + "\\n").encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]
'''


def test_a_deleted_watched_directory_does_not_stop_the_watcher(project, docker_client):
    project.write("app.py", LIB_APP)
    project.write("lib/__init__.py", "")
    project.write("lib/extra.py", 'TEXT = "extra one"\n')
    project.write_config(extra="watch:\n  paths: [lib]\n")
    box = Up(project, first_body="extra one")
    assert "watching lib (2 files" in box.output()
    shutil.rmtree(project.root / "lib")
    project.wait_body("no lib\n")
    project.write("lib/__init__.py", "")
    project.write("lib/extra.py", 'TEXT = "extra two"\n')
    project.wait_body("extra two\n")
    project.write("lib/extra.py", 'TEXT = "extra three"\n')
    project.wait_body("extra three\n")
    assert box.process.poll() is None


def test_a_devbox_yml_change_is_applied_and_a_broken_one_is_refused(project, docker_client, up):
    box = up()
    first = docker_client.containers.get(f"{project.name}-devbox").id
    project.write_config(extra="env: {GREETING: hello}\n")
    project.wait_body("hello\n", path="/env")
    wait_until(lambda: "⚙ devbox.yml changed -> container recreated" in box.output(), 30, 0.05, "applied")
    assert docker_client.containers.get(f"{project.name}-devbox").id != first

    (project.root / "devbox.yml").write_text((project.root / "devbox.yml").read_text() + "portz: [1]\n")
    after_apply = lambda: box.output().split("container recreated", 1)[1]  # noqa: E731
    wait_until(lambda: "unknown key 'portz'" in after_apply(), 10, 0.05, "refused")
    assert "still running the previous devbox.yml" in after_apply()
    assert project.get("/env") == (200, "hello\n")
    box.sentinel(1)
