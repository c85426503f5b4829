"""updateRemoteUserUID: the container user's account gets the host user's uid:gid, so what it
writes through a bind mount belongs to the host user (Linux, where a bind mount keeps numeric ids).

The reference CLI builds an extra image layer with a shell script for this; devbox rewrites the
container's /etc/passwd and /etc/group before its first start (the same rules: a uid another
account has is left alone, a gid another group has keeps the old gid) and gives the home
directory to the new ids once it runs.
"""

from __future__ import annotations

import io
import tarfile
import time
from dataclasses import dataclass
from typing import Optional, Tuple


@dataclass(frozen=True)
class Update:
    passwd: str
    group: str
    home: str
    uid: int
    gid: int


def _rows(text: str):
    return [line.split(":") for line in text.splitlines()]


def rewrite(passwd: str, group: str, user: str, uid: int, gid: int) -> Tuple[Optional[Update], str]:
    """The files with `user` moved to uid:gid, or None and why not ("" when it has them already);
    pure."""
    rows = _rows(passwd)
    entry = next((row for row in rows if len(row) >= 7 and row[0] == user), None)
    if entry is None:
        return None, f"user {user} is not in the image's /etc/passwd"
    old_uid, old_gid = int(entry[2]), int(entry[3])
    if (old_uid, old_gid) == (uid, gid):
        return None, ""  # nothing to do: it already has them
    if old_uid != uid and any(len(row) >= 3 and row[2] == str(uid) for row in rows):
        return None, f"another account has uid {uid}"
    groups = _rows(group)
    if old_gid != gid and any(len(row) >= 3 and row[2] == str(gid) for row in groups):
        gid = old_gid  # the spec's rule: keep the group rather than share another's
    entry[2], entry[3] = str(uid), str(gid)
    if old_gid != gid:
        for row in groups:
            if len(row) >= 3 and row[2] == str(old_gid):
                row[2] = str(gid)
    return Update(passwd=_text(rows, passwd), group=_text(groups, group), home=entry[5], uid=uid, gid=gid), ""


def _text(rows, original: str) -> str:
    return "\n".join(":".join(row) for row in rows) + ("\n" if original.endswith("\n") else "")


def apply(container, user: str, uid: int, gid: int) -> Tuple[Optional[Update], str]:
    """Rewrite the accounts of a created (not yet started) container; the update or why none."""
    files = {name: _read(container, f"/etc/{name}") for name in ("passwd", "group")}
    update, why = rewrite(files["passwd"], files["group"], user, uid, gid)
    if update is not None:
        container.put_archive("/etc", _archive({"passwd": update.passwd, "group": update.group}))
    return update, why


def chown_home_argv(update: Update) -> list:
    """Run as root once the container runs: the home directory follows its owner's new ids."""
    return ["chown", "-R", f"{update.uid}:{update.gid}", update.home]


def _read(container, path: str) -> str:
    chunks, _ = container.get_archive(path)
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        member = tar.next()
        data = tar.extractfile(member) if member is not None else None
        return data.read().decode("utf-8", "replace") if data is not None else ""


def _archive(files: dict) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
