"""Run `cachemgr demo` as a user would, and talk to what it prints (real xrootd, supervisord, xrdcp, curl)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from conftest import REPO, processes_naming

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
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    env: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    demo = Demo(proc, env, log)
    while set(keys) - set(env):
        if time.monotonic() > deadline or proc.poll() is not None:
            with contextlib.suppress(ProcessLookupError):  # it may have exited already
                os.killpg(proc.pid, signal.SIGTERM)
            missing = sorted(set(keys) - set(env))
            raise AssertionError(f"demo did not print {missing} (exit {proc.poll()}):\n{demo.log_tail()}")
        try:
            key, sep, value = lines.get(timeout=0.5).strip().partition("=")
        except queue.Empty:
            continue
        if sep:
            env[key] = value
    return demo


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def xrdcp(url: str, dest: Path) -> subprocess.CompletedProcess:
    # xrdcp retries a dead port for ~2 min: bound it.
    return subprocess.run(["xrdcp", "-f", "-s", url, str(dest)], capture_output=True, text=True, timeout=60)


def curl(url: str, dest: Path) -> int:
    out = subprocess.run(
        ["curl", "-sS", "--max-time", "30", "-o", str(dest), "-w", "%{http_code}", url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return int(out.stdout or 0)


def add_origin_file(demo: Demo, rel: str, data: bytes) -> Path:
    path = Path(demo.env["ORIGIN_DIR"]) / rel.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    owner = Path(demo.env["ORIGIN_DIR"]).stat()
    os.chown(path, owner.st_uid, owner.st_gid)
    return path
