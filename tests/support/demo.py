"""Run `cachemgr demo` as a user would, and read what it prints (support/clients.py talks to it)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from queue import Queue
from typing import IO, TypeVar

import psutil

from support import REPO, printed, processes_naming, running, stdout_lines
from support.origin import put
from support.wait import eventually

KEYS = ("ORIGIN_XROOT", "ORIGIN_DIR", "CACHE_XROOT", "CACHE_HTTP", "CACHE_DIR", "SAMPLE", "PROTECTED", "METRICS")
AUTH_KEYS = ("AUTH_XROOT", "AUTH_HTTPS", "CA_DIR", "CA_CERT", "CA_KEY", "USER_CERT", "USER_KEY", "USER_PROXY")


@dataclass
class Demo:
    proc: subprocess.Popen
    env: dict[str, str]
    log: IO[bytes]  # its stderr: supervise relays every program's log there
    lines: Queue[str] | None = None  # its stdout after the KEY=value lines, when a test reads on

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

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def leftovers(self) -> list[str]:
        """Processes whose command line still names this demo's directory."""
        return processes_naming(str(self.root))

    def processes(self) -> list[psutil.Process]:
        """Its process and every one it started: setsid'd daemons are still children of what started them."""
        demo = psutil.Process(self.proc.pid)
        return [demo, *demo.children(recursive=True)]

    def ports(self) -> set[int]:
        """The ports of the URLs it printed."""
        return {int(port) for value in self.env.values() for port in re.findall(r"://[^/:,]+:(\d+)", value)}

    def killed_leaves_nothing(self, also: Callable[[], list[str]] = list, within: float = 10) -> None:
        """SIGKILL the demo's process, as a closed terminal or the OOM killer ends it; fail unless within `within` s
        nothing of it is left: none of the processes it had started, no process naming its dir, no port it printed
        listening, no mount under its dir, not its dir, nothing also() names."""
        started, ports = self.processes(), self.ports()
        assert "xrootd" in {p.name() for p in started} and ports, "the demo runs nothing of its own to leave"

        def left() -> list[str]:
            alive = [str(p) for p in started if running(p)]  # str: pid and name, also of one exiting meanwhile
            listening = {c.laddr.port for c in psutil.net_connections("tcp") if c.status == psutil.CONN_LISTEN}
            mounts = [m for m in Path("/proc/self/mountinfo").read_text().splitlines() if str(self.root) in m]
            there = [str(self.root)] if self.root.exists() else []
            return alive + self.leftovers() + [f"port {p}" for p in ports & listening] + mounts + there + also()

        self.proc.kill()
        self.proc.wait()
        eventually(lambda: not left(), within, 0.2, message=lambda: f"left of the killed demo: {left()}")


D = TypeVar("D", bound=Demo)


def launch(kind: type[D], args: list[str], keys: tuple[str, ...], timeout: float, follow: bool = False) -> D:
    """`cachemgr demo ARGS`, once it has printed every key; follow: keep its later stdout lines (kind.lines)."""
    log = tempfile.TemporaryFile()  # noqa: SIM115 (readable after the stop; gone with the Demo)
    proc = subprocess.Popen(
        [sys.executable, "-m", "cachemgr", "demo", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        start_new_session=True,
    )
    demo = kind(proc, {}, log, stdout_lines(proc) if follow else None)
    try:
        demo.env.update(printed(proc, keys, timeout, " ".join(["demo", *args]), demo.log_tail, demo.lines))
    except AssertionError:
        with contextlib.suppress(ProcessLookupError):  # it may have exited already
            os.killpg(proc.pid, signal.SIGTERM)
        raise
    return demo


def start(*flags: str, timeout: float = 60) -> Demo:
    """`cachemgr demo [flags]`, once it has printed every line (--auth: the AUTH_KEYS too)."""
    return launch(Demo, list(flags), KEYS + (AUTH_KEYS if "--auth" in flags else ()), timeout)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def add_origin_file(demo: Demo, rel: str, data: bytes) -> Path:
    return put(Path(demo.env["ORIGIN_DIR"]), rel, data)
