"""Run `cachemgr demo --fleet N` as a user would, read what it prints, and read through its redirector."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from queue import Queue
from typing import IO

from support import REPO, printed, processes_naming, stdout_lines
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
class Fleet:
    proc: subprocess.Popen
    env: dict[str, str]
    log: IO[bytes]  # its stderr: the redirector's and every node's program logs
    lines: Queue[str]  # its stdout, after the first KEY=value lines

    @property
    def root(self) -> Path:
        return Path(self.env["ORIGIN_DIR"]).parents[1]

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

    def stop(self, sig: int = signal.SIGTERM) -> float:
        """Signal the demo; return how long it took to exit."""
        start = time.monotonic()
        self.proc.send_signal(sig)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise
        return time.monotonic() - start

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def leftovers(self) -> list[str]:
        """Processes whose command line still names this demo's directory."""
        return processes_naming(str(self.root))


def start(size: int = 3, timeout: float = 120) -> Fleet:
    """`cachemgr demo --fleet size`, once it has printed every line."""
    log = tempfile.TemporaryFile()  # noqa: SIM115 (readable after the stop; gone with the Fleet)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cachemgr", "demo", "--fleet", str(size)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        start_new_session=True,
    )
    fleet = Fleet(proc, {}, log, stdout_lines(proc))
    try:
        fleet.env.update(printed(proc, KEYS, timeout, "demo --fleet", fleet.log_tail, fleet.lines))
    except AssertionError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        raise
    return fleet
