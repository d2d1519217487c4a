"""A node's rendered cache (relocated by cachemgr/local/sandbox.py) in front of a real origin, to read files through."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cachemgr.local import sandbox
from cachemgr.local.xrootd.origin import OriginServer
from cachemgr.xcache import openfiles
from support import EXAMPLE
from support.clients import xrdcp
from support.origin import put, serving
from support.wait import eventually


@dataclass
class Cache:
    box: sandbox.Sandbox
    origin: OriginServer

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
        """path's bytes, read through the cache over xroot, once xrootd has closed the file again (it writes the
        .cinfo on close: a fault injected before would be overwritten). A file still busy when the client closes it
        is closed by XrdPosix's delayed destroy (wait_closed)."""
        result = xrdcp(f"{self.xroot}/{path}")
        assert result.returncode == 0, result.stderr
        wait_closed(self.root / f"{path.lstrip('/')}.cinfo")
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
            # XrdPfc's first purge (1 s after start) reads every .cinfo and deletes the pairs whose cinfo does not
            # read: a fault a test injects before it would vanish. This unreadable one goes when it has run.
            probe = Path(box.instances[0].root) / "purge-probe.cinfo"
            probe.write_bytes(b"")
            shutil.chown(probe, box.values["xrootd.user"])
            box.start_daemons(isolate=False)
            eventually(lambda: not probe.exists(), 20, 0.1, "xrootd's first purge did not run")
            try:
                yield Cache(box, up)
            finally:
                box.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)


def wait_closed(cached: Path, timeout: float = 90) -> None:
    """Until no xrootd has the cached file open: XrdPfc holds it until its blocks are written, and a file still busy
    at the client's close until XrdPosix's delayed destroy, which looks every 30 s (ddInterval): three rounds."""
    eventually(lambda: openfiles.inode(cached) not in openfiles.open_inodes(), timeout, 0.05, f"{cached} stays open")


class PausedRead:
    """A client reading path over HTTP that stops after its first bytes until finish(): xrootd is then blocked
    writing to the full socket, mid-transfer, with the file open (the file must be well over the socket buffers,
    a few MB here: use 32 MB)."""

    def __init__(self, cache: Cache, path: str) -> None:
        self.proc = subprocess.Popen(
            ["curl", "-sS", "--max-time", "120", f"{cache.http}{path}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        assert self.proc.stdout is not None
        self.head = self.proc.stdout.read(1 << 16)  # the transfer has started: xrootd has attached the file
        assert self.head, self.proc.stderr.read() if self.proc.stderr else ""

    def finish(self) -> bytes:
        """Read the rest: the whole body, once curl succeeded."""
        assert self.proc.stdout is not None and self.proc.stderr is not None
        rest = self.proc.stdout.read()
        assert self.proc.wait(60) == 0, self.proc.stderr.read()
        return self.head + rest
