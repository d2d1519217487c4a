"""A real xrootd origin for a test: the files it serves, optionally GSI-protected."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cachemgr import sandbox
from cachemgr.xrootd import origin


@contextlib.contextmanager
def serving(
    files: dict[str, bytes], protect: origin.Protection | None = None, port: int | None = None
) -> Iterator[origin.Origin]:
    """A real xrootd origin serving files (path -> content), stopped and removed afterwards."""
    # Not under pytest's tmp dir: that is mode 0700 and xrootd runs as its own user.
    root = Path(tempfile.mkdtemp(prefix="cachemgr-test-origin-"))
    try:
        up = origin.start(root, sandbox.run_user(), port, protect)
        try:
            for name, content in files.items():
                (up.data / name.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
                (up.data / name.lstrip("/")).write_bytes(content)
            yield up
        finally:
            up.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)
