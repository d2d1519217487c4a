"""Run `cachemgr demo --fleet N` as a user would, read what it prints, and read through its redirector."""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from support import printed
from support.demo import Demo, launch
from support.origin import put

KEYS = (
    "ORIGIN_XROOT",
    "ORIGIN_DIR",
    "REDIRECTOR_XROOT",
    "REDIRECTOR_HTTP",
    "FLEET_CACHES",
    "FLEET_DIRS",
    "FLEET_METRICS",
    "FLEET_PIDS",
    "FLEET_SCRAPE",
)
# An xroot client retries a refused port for minutes: once here, and every request bounded.
CLIENT_ENV = {"XRD_CONNECTIONRETRY": "1", "XRD_CONNECTIONWINDOW": "5", "XRD_REQUESTTIMEOUT": "30"}
CLIENT_TIMEOUT = 60


@dataclass
class Fleet(Demo):
    """The demo fleet; its log has the redirector's and every node's program logs."""

    @property
    def caches(self) -> list[str]:
        return self.env["FLEET_CACHES"].split(",")

    @property
    def dirs(self) -> list[Path]:
        return [Path(d) for d in self.env["FLEET_DIRS"].split(",")]

    @property
    def pids(self) -> list[int]:
        return [int(p) for p in self.env["FLEET_PIDS"].split(",")]

    def holders(self, rel: str) -> list[int]:
        """Indexes of the caches whose dir holds rel (its data file)."""
        return [i for i, d in enumerate(self.dirs) if (d / rel.lstrip("/")).exists()]

    def add(self, rel: str, data: bytes) -> Path:
        """A file the origin serves at rel."""
        return put(Path(self.env["ORIGIN_DIR"]), rel, data)

    def read(self, rel: str, dest: Path | None = None, url: str | None = None) -> subprocess.CompletedProcess[bytes]:
        """xrdcp of rel through the redirector (or url), to dest or stdout; bounded in time."""
        cmd = ["xrdcp", "--force", "--silent", f"{url or self.env['REDIRECTOR_XROOT']}/{rel}", str(dest or "-")]
        return subprocess.run(cmd, capture_output=True, timeout=CLIENT_TIMEOUT, env={**os.environ, **CLIENT_ENV})

    def restart_gone(self, timeout: float = 60) -> list[int]:
        """Ask the demo to start its nodes that are gone again (SIGUSR1); their new supervise pids."""
        self.env.pop("FLEET_PIDS")
        self.proc.send_signal(signal.SIGUSR1)
        self.env.update(printed(self.proc, ["FLEET_PIDS"], timeout, "demo --fleet", self.log_tail, self.lines))
        return self.pids


def start(size: int = 3, timeout: float = 120) -> Fleet:
    """`cachemgr demo --fleet size`, once it has printed every line."""
    return launch(Fleet, ["--fleet", str(size)], KEYS, timeout, follow=True)
