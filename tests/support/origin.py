"""A real xrootd origin for a test, optionally GSI-protected, and the files it serves."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cachemgr.local import sandbox
from cachemgr.local.xrootd import origin


def put(data: Path, name: str, content: bytes) -> Path:
    """A file an origin serves at name: written under its data dir, owned as that dir is (by the origin's user)."""
    path = data / name.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    owner = data.stat()
    os.chown(path, owner.st_uid, owner.st_gid)
    return path


@contextlib.contextmanager
def serving(
    files: dict[str, bytes], protect: origin.Protection | None = None, port: int | None = None
) -> Iterator[origin.OriginServer]:
    """A real xrootd origin serving files (path -> content), stopped and removed afterwards."""
    # Not under pytest's tmp dir: that is mode 0700 and xrootd runs as its own user.
    root = Path(tempfile.mkdtemp(prefix="cachemgr-test-origin-"))
    try:
        up = origin.start(root, sandbox.run_user(), port, protect)
        try:
            for name, content in files.items():
                put(up.data, name, content)
            yield up
        finally:
            up.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
