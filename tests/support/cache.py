"""A node's rendered cache (relocated by cachemgr/sandbox.py) in front of a real origin, for reading files through."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cachemgr import sandbox
from cachemgr.xrootd.origin import Origin
from support import EXAMPLE
from support.clients import xrdcp
from support.origin import put, serving


@dataclass
class Cache:
    box: sandbox.Sandbox
    origin: Origin

    @property
    def instance(self):
        return self.box.instances[0]

    @property
    def root(self) -> Path:
        """The first instance's namespace root."""
        return Path(self.instance.root)

    @property
    def xroot(self) -> str:
        return f"root://127.0.0.1:{self.instance.port}"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.instance.http_port}"

    @property
    def config(self) -> Path:
        return self.box.config_dir

    def read(self, path: str) -> bytes:
        """path's bytes, read through the cache over xroot."""
        result = xrdcp(f"{self.xroot}/{path}")
        assert result.returncode == 0, result.stderr
        return result.stdout

    def put(self, path: str, content: bytes) -> None:
        """A file at the origin."""
        put(self.origin.data, path, content)


@contextlib.contextmanager
def running(files: dict[str, bytes], node: str = "local") -> Iterator[Cache]:
    """The example site's node (its noauth instance) reading from an origin that serves files, stopped afterwards."""
    with serving(files) as up:
        root = Path(tempfile.mkdtemp(prefix="cachemgr-test-cache-"))  # not pytest's: 0700, xrootd is its own user
        try:
            box = sandbox.create(EXAMPLE, node, root, origin=up.address, extra={"auth.enabled": False})
            box.start_daemons(isolate=False)
            try:
                yield Cache(box, up)
            finally:
                box.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)


def slow_http_read(cache: Cache, path: str, dest: Path, rate: str = "512k") -> subprocess.Popen:
    """A client reading path through the cache at rate bytes/s (xrootd keeps the file open meanwhile)."""
    return subprocess.Popen(
        ["curl", "-sS", "--max-time", "120", "--limit-rate", rate, "-o", str(dest), f"{cache.http}{path}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
