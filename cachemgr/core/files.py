"""Installing files so that a reader never sees a partial one and a failure never loses the old one."""

from __future__ import annotations

import json
import os
import pwd
import tempfile
from pathlib import Path
from typing import Any


def owner_ids(user: str | None) -> tuple[int, int]:
    """(uid, gid) of user; (-1, -1) keeps the owner (and is all a non-root process can do)."""
    if user is None or os.geteuid() != 0:
        return -1, -1
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def is_current(path: Path, data: bytes, mode: int, uid: int = -1, gid: int = -1) -> bool:
    try:
        st = path.stat()
        return (
            (st.st_mode & 0o7777) == mode
            and (uid < 0 or st.st_uid == uid)
            and (gid < 0 or st.st_gid == gid)
            and path.read_bytes() == data
        )
    except OSError:
        return False


def install(path: Path, data: bytes, mode: int = 0o644, user: str | None = None) -> bool:
    """Atomically put data at path with mode and owner; return False when it was already so.

    The temp file is made in the target's directory (rename is atomic only within a filesystem),
    gets its mode before any byte is written (no window where a key is world-readable) and is
    flushed to disk before the rename.
    """
    uid, gid = owner_ids(user)
    if is_current(path, data, mode, uid, gid):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        if uid >= 0:
            os.fchown(fd, uid, gid)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def install_json(path: Path, value: Any, mode: int = 0o644) -> bool:
    return install(path, (json.dumps(value, indent=1, sort_keys=True) + "\n").encode(), mode)
