"""What devbox puts into a container under /opt/devbox: the whole supervisor package."""

import io
import tarfile

from devbox import injected


def test_the_archive_holds_every_supervisor_module_and_the_shim():
    with tarfile.open(fileobj=io.BytesIO(injected.supervisor_archive())) as tar:
        names = set(tar.getnames())
    root = injected.SUPERVISOR_ROOT.lstrip("/") + "/devbox/supervisor/"
    assert {root + p.name for p in injected.SUPERVISOR_SOURCE.glob("*.py")} <= names
    assert root + "shim/sitecustomize.py" in names  # runserver serves on fd 3 through it
    assert root + "probe.py" in names


def test_every_module_ships_with_a_checked_hash_cache_for_this_python(tmp_path, monkeypatch):
    import importlib.util
    import marshal
    import sys

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    tag = sys.implementation.cache_tag
    for attempt in ("compiled", "read from devbox's cache"):
        files = {name: data for name, data, _ in injected.supervisor_files()}
        sources = {name: data for name, data in files.items() if name.endswith(".py")}
        assert sources, attempt
        for name, source in sources.items():
            folder, _, module = name.rpartition("/")
            cache = files[f"{folder}/__pycache__/{module[:-3]}.{tag}.pyc"]
            assert cache[:4] == importlib.util.MAGIC_NUMBER
            assert int.from_bytes(cache[4:8], "little") == 0b11  # hash-based, checked: mtimes do not matter
            assert cache[8:16] == importlib.util.source_hash(source)
            assert marshal.loads(cache[16:]).co_filename == "/" + name  # the container's path
    assert list((tmp_path / "cache" / "devbox" / "bytecode").iterdir())  # compiled once, kept


def test_the_digest_is_of_the_sources_only(tmp_path, monkeypatch):
    before = injected.supervisor_digest()
    injected.supervisor_digest.cache_clear()
    monkeypatch.setattr(injected, "shipped_bytecode", lambda sources: iter([("opt/devbox/x.pyc", b"other", 0o644)]))
    assert injected.supervisor_digest() == before


def test_a_host_copy_is_laid_out_whole_then_kept_while_its_stamp_matches(tmp_path):
    target = tmp_path / ".devbox" / "supervisor"
    injected.write_copy(target)
    names = {p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file()}
    root = injected.SUPERVISOR_ROOT.lstrip("/") + "/"
    assert names == {n[len(root):] for n, _, _ in injected.supervisor_files()} | {injected.COPY_STAMP}
    assert (tmp_path / ".devbox" / ".gitignore").is_file()
    assert not [p for p in tmp_path.joinpath(".devbox").iterdir() if p.name.endswith(".new")]
    (target / "devbox" / "supervisor" / "gone.py").write_text("# no longer injected\n")
    injected.write_copy(target)  # stamped: taken as it is
    assert (target / "devbox" / "supervisor" / "gone.py").exists()
    (target / injected.COPY_STAMP).write_text("another devbox\n")
    injected.write_copy(target)  # another stamp: made right, file by file
    assert not (target / "devbox" / "supervisor" / "gone.py").exists()
    assert (target / injected.COPY_STAMP).read_text().startswith(injected.supervisor_digest())
