"""Run `cachemgr demo` as a user would, and read what it prints (support/clients.py talks to it)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from support import REPO, printed, processes_naming
from support.origin import put

KEYS = ("ORIGIN_XROOT", "ORIGIN_DIR", "CACHE_XROOT", "CACHE_HTTP", "CACHE_DIR", "SAMPLE", "PROTECTED", "METRICS")
AUTH_KEYS = ("AUTH_XROOT", "AUTH_HTTPS", "CA_DIR", "CA_CERT", "CA_KEY", "USER_CERT", "USER_KEY", "USER_PROXY")


@dataclass
class Demo:
    proc: subprocess.Popen
    env: dict[str, str]
    log: IO[bytes]  # its stderr: supervise relays every program's log there

    @property
    def root(self) -> Path:
        return Path(self.env["ORIGIN_DIR"]).parents[1]

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

    def log_tail(self, lines: int = 15) -> str:
        self.log.seek(0)
        return "\n".join(self.log.read().decode(errors="replace").splitlines()[-lines:])

    def leftovers(self) -> list[str]:
        """Processes whose command line still names this demo's directory."""
        return processes_naming(str(self.root))


def start(*flags: str, timeout: float = 60) -> Demo:
    """`cachemgr demo [flags]`, once it has printed every line (--auth: the AUTH_KEYS too)."""
    keys = KEYS + (AUTH_KEYS if "--auth" in flags else ())
    log = tempfile.TemporaryFile()  # noqa: SIM115 (readable after the stop; gone with the Demo)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cachemgr", "demo", *flags],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        start_new_session=True,
    )
    demo = Demo(proc, {}, log)
    try:
        demo.env.update(printed(proc, keys, timeout, "demo", demo.log_tail))
    except AssertionError:
        with contextlib.suppress(ProcessLookupError):  # it may have exited already
            os.killpg(proc.pid, signal.SIGTERM)
        raise
    return demo


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def add_origin_file(demo: Demo, rel: str, data: bytes) -> Path:
    return put(Path(demo.env["ORIGIN_DIR"]), rel, data)
