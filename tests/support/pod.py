"""A node's rendered cache run by `cachemgr supervise` on this machine, as the image runs it."""

from __future__ import annotations

import signal
import subprocess
import tempfile
import time
from pathlib import Path

from cachemgr.core import supervisor_rpc
from cachemgr.core.pod import RunDir
from cachemgr.local import sandbox
from support import EXAMPLE, cachemgr, processes_naming
from support.metrics import samples, scrape, value
from support.wait import eventually

QUIET = {
    "k8s.drain": "3s",
    "selftest.interval": "5s",
    "selftest.timeout": "5s",
    "origin.timeout": "5s",
}


class Pod:
    """A node's rendered cache run by `cachemgr supervise`, as the image runs it."""

    def __init__(self, tmp_path: Path, extra: dict, origin: str | None = None, node: str = "local"):
        # Not under tmp_path: pytest makes it root-only, and xrootd runs as the xrootd user.
        root = Path(tempfile.mkdtemp(prefix="cachemgr-test-pod-"))
        self.box = sandbox.create(EXAMPLE, node, root, origin=origin, extra={**QUIET, **extra})
        self.v = self.box.values
        self.run = RunDir(Path(self.v["paths.run"]))
        self.out = tmp_path / "supervise.out"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with open(self.out, "w") as out:
            self.proc = self.box.supervise(out)

    def wait_live(self, timeout: float = 60) -> None:
        def live() -> bool:
            if self.health("--live").returncode == 0:
                return True
            assert self.proc.poll() is None, self.out.read_text()
            return False

        eventually(live, timeout, message=self.out.read_text)

    def metrics(self) -> str:
        return scrape(f"http://127.0.0.1:{self.v['ports.metrics']}/metrics")

    def metric(self, name: str, **labels: str) -> float | None:
        return value(samples(self.metrics()), name, **labels)

    def health(self, *flags: str) -> subprocess.CompletedProcess:
        return cachemgr("health", *flags, "--config", str(self.box.config_dir))

    def programs(self) -> dict[str, dict]:
        return supervisor_rpc.programs(self.run)

    def stop(self) -> float:
        start = time.monotonic()
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)
        return time.monotonic() - start

    def leftovers(self) -> list[str]:
        return processes_naming(str(self.box.root))
