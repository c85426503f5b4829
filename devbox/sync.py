"""Copy mode: the project goes into the container as tar archives instead of a bind mount.

Used when the engine cannot see the host's files (a VM over ssh://, a remote tcp:// engine) or
when devbox.yml says `sync: copy`. The initial tree is one tar stream (`put_archive`) built from
the same ignore rules as the watcher; each later batch sends only its changed files, and
deletions are applied by the receiver (receiver.py), else by one short exec of the remove
program (devbox/supervisor/remove.py, copied in with the supervisor). The archives and the safety rules every path passes
before it is packed are devbox.archive's.
"""

from __future__ import annotations

import io
import os
import posixpath
import tarfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from devbox import events
from devbox import receiver
from devbox.archive import Owner, Stats, build_archive, clean_relpath, clean_workdir, inside
from devbox.errors import SyncError
from devbox.supervisor import protocol

# Batches larger than this go by put_archive (streamed) rather than through the receiver (in memory).
RECEIVER_MAX_BYTES = 16 * 1024 * 1024

# -- the container's user ---------------------------------------------------------------------

def parse_user(user: Optional[str], passwd: str = "", group: str = "") -> Owner:
    """The uid/gid Docker runs `user` ("", "1000", "1000:1000", "app", "app:staff") as, looked
    up in the image's /etc/passwd and /etc/group text like Docker does. SyncError for an unknown
    name."""
    if not user:
        return Owner(0, 0)
    name, _, group_name = user.partition(":")
    entries = [line.split(":") for line in passwd.splitlines() if line.count(":") >= 3]
    uid = gid = None
    for entry in entries:
        if entry[0] == name or (name.isdigit() and entry[2] == name):
            uid, gid = int(entry[2]), int(entry[3])
            break
    if uid is None:
        if not name.isdigit():
            raise SyncError(f"user {name!r} is not in the image's /etc/passwd",
                            "set `user:` to a uid:gid, or to a user the image has")
        uid, gid = int(name), 0
    if group_name:
        if group_name.isdigit():
            gid = int(group_name)
        else:
            found = [line.split(":") for line in group.splitlines() if line.split(":")[0] == group_name]
            if not found or len(found[0]) < 3 or not found[0][2].isdigit():
                raise SyncError(f"group {group_name!r} is not in the image's /etc/group",
                                "set `user:` to a uid:gid")
            gid = int(found[0][2])
    return Owner(uid, gid)


def _read_container_file(container, path: str) -> str:
    """A small text file from the container (started or not), "" if it is absent."""
    import docker

    try:
        chunks, _ = container.get_archive(path)
    except docker.errors.NotFound:
        return ""
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        member = tar.next()
        handle = tar.extractfile(member) if member is not None else None
        return handle.read().decode("utf-8", "replace") if handle else ""


_owners: Dict[str, Owner] = {}


def container_owner(container) -> Owner:
    """The uid/gid the container runs as (its configured user, else root), cached per container."""
    owner = _owners.get(container.id)
    if owner is None:
        user = (container.attrs.get("Config") or {}).get("User") or ""
        name, _, group = user.partition(":")
        needs_lookup = bool(user) and not (name.isdigit() and (not group or group.isdigit()))
        passwd = _read_container_file(container, "/etc/passwd") if user else ""
        groups = _read_container_file(container, "/etc/group") if needs_lookup and group else ""
        owner = _owners[container.id] = parse_user(user, passwd, groups)
    return owner


# -- the operations -----------------------------------------------------------------------------

_filters: Dict[tuple, object] = {}


def path_filter(config):
    """The watcher's ignore rules for `config`, built once per project."""
    from devbox import filters

    key = (str(config.root), tuple(config.watch.ignore), tuple(config.watch.no_reload), tuple(config.watch.rebuild))
    found = _filters.get(key)
    if found is None:
        found = _filters[key] = filters.PathFilter(config.root, ignore=config.watch.ignore,
                                                   no_reload=config.watch.no_reload,
                                                   rebuild=config.watch.rebuild)
    return found


def _put(container, archive, what: str) -> None:
    import docker

    try:
        ok = container.put_archive("/", archive)
    except docker.errors.APIError as exc:
        raise SyncError(f"copying {what} into the container failed: {exc.explanation or exc}",
                        "see `devbox logs`; `devbox down` then `devbox up` copies everything again") from None
    if ok is False:
        raise SyncError(f"the engine refused the archive of {what}")


def initial(container, config, report: Callable[..., None] = lambda event, **f: None) -> Stats:
    """Copy the whole project (minus ignored files) into the container's workdir as one archive;
    the workdir is created and owned by the container's user."""
    started = time.monotonic()
    paths = list(path_filter(config).walk(config.root))
    archive, stats, _ = build_archive(config.root, paths, config.workdir, container_owner(container),
                                      with_workdir=True)
    with archive:
        _put(container, archive, f"{config.root}")
    stats.seconds = time.monotonic() - started
    report(events.COPIED, files=stats.files, bytes=stats.bytes, seconds=stats.seconds, workdir=config.workdir)
    return stats


def plan_batch(root: Path, changed: Sequence[str], deleted: Sequence[str], path_filter=None) -> Tuple[List[str], List[str]]:
    """(paths to send, paths to remove) for a batch, decided by what is on the host now: a path
    reported both deleted and created is sent; a changed directory sends its files."""
    send, remove = [], []
    for rel in sorted(set(changed) | set(deleted)):
        clean_relpath(rel)
        path = root / rel
        if not os.path.lexists(path) or not inside(root, rel):
            remove.append(rel)
        elif path.is_dir() and not path.is_symlink():
            if path_filter is not None:
                send.extend(path_filter.walk(rel))
            send.append(rel)
        else:
            send.append(rel)
    # A path whose directory is gone too: remove the highest missing directory (`rm -rf pkg` may
    # be reported as its files only). A removed directory covers its contents.
    remove = sorted({_highest_missing(root, rel) for rel in remove})
    remove = [rel for rel in remove if not any(rel.startswith(other + "/") for other in remove)]
    return send, remove


def _highest_missing(root: Path, rel: str) -> str:
    parts = rel.split("/")
    for depth in range(1, len(parts)):
        if not os.path.lexists(root.joinpath(*parts[:depth])):
            return "/".join(parts[:depth])
    return rel


def send(container, config, changed: Sequence[str], deleted: Sequence[str] = ()) -> Stats:
    """Apply one watcher batch to the container: removals first, then one archive of the files
    that exist now."""
    started = time.monotonic()
    filt = path_filter(config)
    if any(posixpath.basename(rel) in (".gitignore", ".dockerignore") for rel in changed):
        filt.reload_rules()
    to_send, to_remove = plan_batch(Path(config.root), changed, deleted, filt)
    stats = Stats()
    if to_remove:
        payload = "\0".join(clean_relpath(rel) for rel in to_remove).encode("utf-8", "surrogateescape")
        if not _via_receiver(container, config.workdir, protocol.RECEIVER_RM, payload):
            remove(container, config.workdir, to_remove)
        stats.deleted = len(to_remove)
    if to_send:
        archive, built, _ = build_archive(config.root, to_send, config.workdir, container_owner(container))
        with archive:
            if built.bytes > RECEIVER_MAX_BYTES or not _via_receiver(container, config.workdir, protocol.RECEIVER_TAR, archive.read()):
                archive.seek(0)
                _put(container, archive, _describe(to_send))
        stats.files, stats.bytes = built.files, built.bytes
    stats.seconds = time.monotonic() - started
    return stats


def prepare(container, config) -> None:
    """Start the container's receiver now, so the first save does not pay for it."""
    receiver.for_container(container, config.workdir)
    try:
        # The receiver's exec took over a pooled connection; over ssh a new one is a login, so
        # make it now rather than in the first save's reload.
        container.client.api.ping()
    except Exception:  # noqa: BLE001 - only a warm-up
        pass


def _via_receiver(container, workdir: str, op: bytes, payload: bytes) -> bool:
    """Whether the container's receiver applied the request; False means: use the fallback."""
    found = receiver.for_container(container, workdir)
    if found is None:
        return False
    try:
        found.request(op, payload)
    except receiver.Broken:
        receiver.discard(container)
        return False
    return True


def remove(container, workdir: str, relpaths: Sequence[str], timeout: float = 30.0) -> None:
    """Delete project-relative paths (files or whole directories) under the container's workdir."""
    import docker

    clean_workdir(workdir)
    args = [clean_relpath(rel) for rel in relpaths]
    api = container.client.api
    try:
        # A detached exec, then its status: an attached one hijacks the HTTP connection, which
        # over ssh costs a new ssh login for the request after it.
        exec_id = api.exec_create(container.id, protocol.program_argv(protocol.REMOVE_MODULE, [workdir, *args]),
                                  stdout=False, stderr=False)["Id"]
        api.exec_start(exec_id, detach=True)
        deadline = time.monotonic() + timeout
        while True:
            state = api.exec_inspect(exec_id)
            if not state.get("Running") and state.get("ExitCode") is not None:
                break
            if time.monotonic() > deadline:
                raise SyncError(f"removing {_describe(args)} in the container took over {timeout:g} s")
            time.sleep(0.005)  # the exec has no event to wait on; it takes a few milliseconds
    except docker.errors.APIError as exc:
        raise SyncError(f"removing {_describe(args)} in the container failed: {exc.explanation or exc}") from None
    if state["ExitCode"] != 0:
        raise SyncError(f"removing {_describe(args)} in the container failed (exit status {state['ExitCode']})",
                        "is the workdir writable by the container's user?")


def _describe(paths: Sequence[str]) -> str:
    return paths[0] if len(paths) == 1 else f"{len(paths)} files ({paths[0]}, ...)"
