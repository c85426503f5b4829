"""PathFilter on real trees: ignore rules from every source, classification, walking, cost."""

import os
import time

import pytest
from watchfiles import Change

from devbox import filters
from devbox.filters import IGNORE, REBUILD, RELOAD, SYNC, PathFilter, strongest

REBUILD_DEFAULTS = ("docker/Dockerfile", "Dockerfile", "requirements*.txt", "pyproject.toml")


def make(root, *paths, **contents):
    """Create files (a trailing "/" makes a directory); keyword arguments are files with text,
    with "__" standing for "/" and "_dot_" for "." (e.g. sub__dot_gitignore="*.log")."""
    for path in paths:
        target = root / path
        if path.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("")
    for name, text in contents.items():
        target = root / name.replace("__", "/").replace("_dot_", ".")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


@pytest.fixture
def root(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    return project


def new_filter(root, **kw):
    kw.setdefault("rebuild", REBUILD_DEFAULTS)
    kw.setdefault("no_reload", ("static/**", "templates/**"))
    return PathFilter(root, **kw)


# -- built-in defaults ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        ".git/HEAD", ".git/objects/ab/cdef", "pkg/__pycache__/mod.cpython-312.pyc", "mod.pyc", "mod.pyo",
        ".venv/lib/site.py", "venv/bin/python", "node_modules/left-pad/index.js", "web/node_modules/x.js",
        ".mypy_cache/3.12/x.json", ".pytest_cache/v/cache", "shop.egg-info/PKG-INFO",
        "app.py.swp", ".app.py.swo", ".app.py.swx", "app.py~", "4913", "pkg/4913", ".#app.py", "#app.py#",
        "pkg/#views.py#", ".DS_Store",
    ],
)  # fmt: skip
def test_defaults_ignore(root, path):
    make(root, path)
    f = new_filter(root)
    assert f.classify(path) == IGNORE
    assert f.is_ignored(path)


@pytest.mark.parametrize("path", ["app.py", "pkg/views.py", "#notes", "venvy.py", "git/x.py", "README.md"])
def test_ordinary_files_reload(root, path):
    make(root, path)
    assert new_filter(root).classify(path) == RELOAD


# -- .gitignore, .dockerignore, watch.ignore -------------------------------------------------------


def test_root_gitignore_with_negation(root):
    make(root, "a.log", "keep.log", "build/out.py", "docs/build/x", _dot_gitignore="*.log\n!keep.log\n/build/\n")
    f = new_filter(root)
    assert f.classify("a.log") == IGNORE
    assert f.classify("keep.log") == RELOAD
    assert f.classify("build/out.py") == IGNORE
    assert f.classify("docs/build/x") == RELOAD  # /build/ is anchored at the root


def test_nested_gitignore_applies_to_its_own_directory(root):
    make(
        root, "local.py", "sub/local.py", "sub/deeper/local.py", "x.tmp", "sub/x.tmp", "sub/deeper/x.tmp",
        _dot_gitignore="*.tmp\n",
        sub___dot_gitignore="/local.py\n!x.tmp\n",
    )  # fmt: skip
    f = new_filter(root)
    assert f.classify("local.py") == RELOAD
    assert f.classify("sub/local.py") == IGNORE  # anchored at sub/
    assert f.classify("sub/deeper/local.py") == RELOAD
    assert f.classify("x.tmp") == IGNORE
    assert f.classify("sub/x.tmp") == RELOAD  # the deeper file overrides the root one
    assert f.classify("sub/deeper/x.tmp") == RELOAD


def test_an_excluded_directory_cannot_be_reincluded_from_inside(root):
    make(root, "out/keep.py", _dot_gitignore="out/\n!out/keep.py\n")
    assert new_filter(root).classify("out/keep.py") == IGNORE  # as in git


def test_dockerignore_is_anchored_at_the_root(root):
    make(root, "secret.py", "sub/secret.py", "docs/a.md", _dot_dockerignore="# comment\nsecret.py\n/docs\n")
    f = new_filter(root)
    assert f.classify("secret.py") == IGNORE
    assert f.classify("sub/secret.py") == RELOAD
    assert f.classify("docs/a.md") == IGNORE


def test_an_allowlist_dockerignore(root):
    make(root, "app/main.py", "tests/test_x.py", "setup.py", _dot_dockerignore="*\n!app\n!setup.py\n")
    f = new_filter(root)
    assert [f.classify(p) for p in ("app/main.py", "setup.py", "tests/test_x.py")] == [RELOAD, RELOAD, IGNORE]


def test_gitignore_negation_does_not_undo_dockerignore(root):
    make(root, "a.log", _dot_dockerignore="*.log\n", _dot_gitignore="!a.log\n")
    assert new_filter(root).classify("a.log") == IGNORE


def test_dockerignore_negation_does_not_undo_gitignore(root):
    make(root, "app/x.log", _dot_dockerignore="*\n!app\n", _dot_gitignore="*.log\n")
    assert new_filter(root).classify("app/x.log") == IGNORE


def test_user_ignore(root):
    make(root, "a.log", "data/big.csv", "node_modules/pkg/index.py", _dot_gitignore="!a.log\n")
    f = new_filter(root, ignore=["*.log", "data/", "!node_modules/"])
    assert f.classify("a.log") == IGNORE  # the user's list wins over .gitignore
    assert f.classify("data/big.csv") == IGNORE
    assert f.classify("node_modules/pkg/index.py") == RELOAD  # and can re-include a default


def test_an_invalid_gitignore_line_is_dropped(root):
    make(root, "a.log", "b.py", _dot_gitignore="!\n*.log\n")
    f = new_filter(root)
    assert (f.classify("a.log"), f.classify("b.py")) == (IGNORE, RELOAD)


# -- classification ------------------------------------------------------------------------------


def test_rebuild_and_sync(root):
    make(root, "requirements.txt", "requirements-dev.txt", "pyproject.toml", "docker/Dockerfile", "Dockerfile",
         "static/app.css", "templates/index.html", "templates/sub/x.html", "app.py")  # fmt: skip
    f = new_filter(root)
    for path in ("requirements.txt", "requirements-dev.txt", "pyproject.toml", "docker/Dockerfile", "Dockerfile"):
        assert f.classify(path) == REBUILD, path
    assert f.classify("static/app.css") == SYNC
    assert f.classify("templates/index.html") == SYNC
    assert f.classify("templates/sub/x.html") == SYNC
    assert f.classify("app.py") == RELOAD


def test_rebuild_patterns_are_anchored_at_the_root(root):
    make(root, "vendor/lib/pyproject.toml", "svc/requirements.txt", "svc/api/req.txt")
    f = new_filter(root, rebuild=["pyproject.toml", "svc/requirements.txt", "**/req.txt"])
    assert f.classify("vendor/lib/pyproject.toml") == RELOAD
    assert f.classify("svc/requirements.txt") == REBUILD
    assert f.classify("svc/api/req.txt") == REBUILD


def test_rebuild_wins_over_dockerignore_and_gitignore(root):
    make(root, "docker/Dockerfile", "Dockerfile", "uv.lock",
         _dot_dockerignore="Dockerfile\ndocker/\n", _dot_gitignore="*.lock\n")  # fmt: skip
    f = new_filter(root, rebuild=["Dockerfile", "docker/Dockerfile", "uv.lock"])
    assert [f.classify(p) for p in ("Dockerfile", "docker/Dockerfile", "uv.lock")] == [REBUILD] * 3
    assert not f.is_ignored("docker/Dockerfile")


def test_rebuild_does_not_win_over_defaults_or_user_ignore(root):
    make(root, ".venv/requirements.txt", "requirements.txt")
    f = new_filter(root, rebuild=["**/requirements.txt"], ignore=["requirements.txt"])
    assert f.classify(".venv/requirements.txt") == IGNORE
    assert f.classify("requirements.txt") == IGNORE


def test_rebuild_wins_over_no_reload(root):
    make(root, "static/Dockerfile")
    assert new_filter(root, rebuild=["static/Dockerfile"]).classify("static/Dockerfile") == REBUILD


def test_absolute_relative_and_outside_paths(root, tmp_path):
    make(root, "app.py", "../outside.py")
    f = new_filter(root)
    assert f.classify(str(root / "app.py")) == RELOAD
    assert f.classify(root / "app.py") == RELOAD
    assert f.classify(str(root / "sub" / ".." / "app.py")) == RELOAD
    assert f.classify(str(tmp_path / "outside.py")) == IGNORE
    assert f.classify("../outside.py") == IGNORE
    assert f.classify(str(tmp_path / "project-other" / "x.py")) == IGNORE  # a sibling sharing a prefix
    assert f.classify(str(root)) == IGNORE
    assert f.is_ignored(str(tmp_path / "outside.py"))


def test_events_under_a_symlinked_root(root, tmp_path):
    make(root, "app.py", "node_modules/x.js")
    link = tmp_path / "link"
    link.symlink_to(root)
    f = new_filter(link)
    assert f.root == root.resolve()
    assert f.classify(str(link / "app.py")) == RELOAD
    assert f.classify(str(root / "app.py")) == RELOAD
    assert f.classify(str(link / "node_modules" / "x.js")) == IGNORE


def test_directories_are_matched_as_directories(root):
    make(root, "node_modules/", "build/", "pkg/", _dot_gitignore="build/\n")
    f = new_filter(root)
    assert f.classify("node_modules") == IGNORE
    assert f.classify("build") == IGNORE
    assert f.classify("pkg") == RELOAD  # a renamed package directory must reload


def test_a_deleted_directory_is_still_known(root):
    make(root, "build/x.py", _dot_gitignore="build/\n")
    f = new_filter(root)
    assert f.classify("build/x.py") == IGNORE
    (root / "build" / "x.py").unlink()
    (root / "build").rmdir()
    assert f.classify("build") == IGNORE


def test_changing_an_ignore_file_reloads_the_rules(root):
    make(root, "a.log", "sub/b.log", "c.txt")
    f = new_filter(root)
    assert f.classify("a.log") == RELOAD
    (root / ".gitignore").write_text("*.log\n")
    assert f.classify(root / ".gitignore") == IGNORE
    assert f.classify("a.log") == IGNORE
    (root / ".gitignore").write_text("")
    (root / "sub" / ".gitignore").write_text("*.log\n")
    assert f(Change.added, str(root / "sub" / ".gitignore")) is False
    assert (f.classify("a.log"), f.classify("sub/b.log")) == (RELOAD, IGNORE)
    (root / ".dockerignore").write_text("c.txt\n")
    assert f.classify(".dockerignore") == IGNORE
    assert f.classify("c.txt") == IGNORE


def test_an_ignore_file_is_not_itself_ignored(root):
    make(root, _dot_gitignore="")
    assert not new_filter(root).is_ignored(".gitignore")


def test_it_is_a_watchfiles_filter(root):
    make(root, "app.py", "x.pyc")
    f = new_filter(root)
    assert f(Change.modified, str(root / "app.py")) is True
    assert f(Change.deleted, str(root / "x.pyc")) is False
    assert f(Change.added, str(root / "gone.py")) is True


def test_batches_take_the_strongest_action(root):
    make(root, "a.py", "static/x.css", "requirements.txt", "x.pyc")
    f = new_filter(root)
    assert f.classify_batch([]) == IGNORE
    assert f.classify_batch(["x.pyc"]) == IGNORE
    assert f.classify_batch(["x.pyc", "static/x.css"]) == SYNC
    assert f.classify_batch(["static/x.css", "a.py", "x.pyc"]) == RELOAD
    assert f.classify_batch(["a.py", "requirements.txt", "static/x.css"]) == REBUILD
    assert strongest([SYNC, REBUILD, RELOAD]) == REBUILD
    assert strongest([]) == IGNORE


def test_ignored_directories_cost_a_lookup(root, monkeypatch):
    make(root, "node_modules/", "dist/", _dot_gitignore="dist/\n")
    f = new_filter(root)
    decisions = []
    real_decide = filters._decide
    monkeypatch.setattr(filters, "_decide", lambda spec, path: decisions.append(path) or real_decide(spec, path))
    stats = []
    real_isdir = os.path.isdir
    monkeypatch.setattr(os.path, "isdir", lambda p: stats.append(p) or real_isdir(p))
    events = [str(root / "node_modules" / f"pkg{i % 200}" / "lib" / f"f{i}.js") for i in range(20_000)]
    started = time.perf_counter()
    assert not any(f(Change.added, path) for path in events)
    elapsed = time.perf_counter() - started
    assert stats == []
    assert len(decisions) <= 3  # node_modules/ once; its children inherit the decision
    assert elapsed < 1.0
    # A gitignored (not built-in) directory costs one rebuild check per event, nothing more.
    decisions.clear()
    assert not any(f(Change.added, str(root / "dist" / f"f{i}.js")) for i in range(1000))
    assert len(decisions) <= 1000 + 5
    assert stats == []


# -- walking -------------------------------------------------------------------------------------


def test_walk_lists_watched_files_sorted_and_prunes_ignored_directories(root, monkeypatch):
    make(
        root, "app.py", "pkg/__init__.py", "pkg/views.py", "pkg/__pycache__/views.cpython-312.pyc",
        "node_modules/a/index.js", "build/out.py", "static/app.css", "a.log", "sub/keep.py", "sub/x.tmp",
        _dot_gitignore="build/\n*.log\n", sub___dot_gitignore="*.tmp\n",
    )  # fmt: skip
    scanned = []
    real_scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda p: scanned.append(str(p)) or real_scandir(p))
    f = new_filter(root)
    assert list(f.walk()) == [
        ".gitignore", "app.py", "pkg/__init__.py", "pkg/views.py", "static/app.css", "sub/.gitignore", "sub/keep.py",
    ]  # fmt: skip
    assert not any("node_modules" in p or "build" in p or "__pycache__" in p for p in scanned)
    assert f.rule_files() == (".gitignore", "sub/.gitignore")


def test_walk_does_not_follow_symlinked_directories(root, tmp_path):
    outside = tmp_path / "outside"
    make(outside, "secret.py")
    make(root, "app.py", "real/mod.py")
    (root / "out").symlink_to(outside)
    (root / "inner").symlink_to(root / "real")
    (root / "alias.py").symlink_to(root / "app.py")
    files = list(new_filter(root).walk())
    assert files == ["alias.py", "app.py", "inner", "out", "real/mod.py"]  # links listed, not entered


def test_walk_from_a_subdirectory(root):
    make(root, "app.py", "pkg/a.py", "pkg/b.pyc", "pkg/sub/c.py", "node_modules/x.js")
    f = new_filter(root)
    assert list(f.walk("pkg")) == ["pkg/a.py", "pkg/sub/c.py"]
    assert list(f.walk(root / "pkg" / "a.py")) == ["pkg/a.py"]
    assert list(f.walk("node_modules")) == []
    assert list(f.walk("..")) == []


def test_walk_lists_dockerignored_rebuild_files_at_the_root(root):
    make(root, "Dockerfile", "app.py", _dot_dockerignore="Dockerfile\n")
    assert list(new_filter(root, rebuild=["Dockerfile"]).walk()) == [".dockerignore", "Dockerfile", "app.py"]


def test_ignore_files_inside_ignored_directories_do_not_flush_the_rules(root, monkeypatch):
    make(root, "node_modules/pkg/.gitignore", "sub/.dockerignore")
    f = new_filter(root)
    reloads = []
    monkeypatch.setattr(f, "reload_rules", lambda: reloads.append(1))
    f.classify("node_modules/pkg/.gitignore")
    f.classify("sub/.dockerignore")
    assert reloads == []
    f.classify("sub/.gitignore")
    assert reloads == [1]


def test_the_one_regex_precheck_agrees_with_the_rules_one_by_one():
    rules = ["*.log", "!keep.log", "build/", "/Dockerfile", "docs/**/*.md", "\\#*#", "a?c", "[ab]x", "**/tmp",
             "node_modules/", "*.swp", ".#*", "4913", "!important/", "deep/**"]
    spec = filters._compile(rules)
    assert spec.devbox_any is not None
    paths = ["x.log", "keep.log", "sub/keep.log", "build/", "build/a.py", "sub/build/", "Dockerfile", "sub/Dockerfile",
             "docs/a/b.md", "docs/b.md", "#a#", "abc", "ax", "bx", "cx", "tmp", "a/tmp", "a/tmp/", "app.py",
             "node_modules/", "x/node_modules/", "a.swp", ".#a", "4913", "important/", "deep/x/y", "deep/"]
    plain = filters._compile(rules)
    plain.devbox_any = None
    assert [filters._decide(spec, p) for p in paths] == [filters._decide(plain, p) for p in paths]
