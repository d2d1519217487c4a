"""Start and stop xrootd / cmsd daemons and know when they are ready (used by check, demo and tests)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from cachemgr.core import procs

# Sub-systems log their own "initialization completed" lines, even on a failing start: only the
# daemon's final line counts.
# Log lines that explain a failed start, most telling first.
_CAUSES = (
    re.compile(r"unmatched|unknown|not found|invalid|no such|denied|may not|error parsing", re.IGNORECASE),
    re.compile(r"error|unable|cannot|refus", re.IGNORECASE),
)
_FINAL = re.compile(r"^------ (?:xrootd|cmsd) (?P<name>\S+)@\S+ initialization (?P<how>completed|failed)\.", re.M)


class StartError(Exception):
    def __init__(self, message: str, log: Path | None = None):
        super().__init__(message)
        self.log = log

    def cause(self) -> str:
        """The log line that explains a failed start (xrootd logs it before the summary lines)."""
        text = self.log.read_text(errors="replace") if self.log and self.log.exists() else ""
        for pattern in _CAUSES:
            for line in text.splitlines():
                if pattern.search(line) and "initialization failed" not in line:
                    return re.sub(r"^\d{6} \d\d:\d\d:\d\d \d+ ", "", line).strip()
        return f"see {self.log}" if self.log else "no log"


_handed_out: set[int] = set()
_handing_out = threading.Lock()


def free_port() -> int:
    """A port of 127.0.0.1 free now for both TCP and UDP (ports.summary and ports.gstream are UDP), and never
    handed out before by this process: a port the kernel picks for a socket bound to port 0 is free again once
    that socket closes, so two picks in a row can be the same port before either is used."""
    with _handing_out, contextlib.ExitStack() as held:
        while True:  # the sockets of rejected picks stay bound, so the kernel does not pick them again
            tcp = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            tcp.bind(("127.0.0.1", 0))  # OSError (EADDRINUSE) once the ephemeral range is used up
            port = tcp.getsockname()[1]
            if port in _handed_out:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            _handed_out.add(port)
            return port


def is_root() -> bool:
    return os.geteuid() == 0


def isolated(cmd: list[str]) -> list[str]:
    """As root, run cmd in a new network namespace: a throw-away server then reaches nothing."""
    if is_root() and shutil.which("unshare") and shutil.which("ip"):
        return ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *cmd]
    return cmd


@dataclass
class Daemon:
    program: str
    name: str
    proc: subprocess.Popen
    log: Path

    def log_tail(self, lines: int = 8) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10) -> None:
        procs.stop(self.proc, timeout)


def log_after(log: Path, since: int = 0) -> str:
    """What log holds after byte since ("" while it does not exist): read from there, not the whole log."""
    try:
        with log.open("rb") as f:
            f.seek(since)
            return f.read().decode(errors="replace")
    except FileNotFoundError:
        return ""


def wait_ready(log: Path, name: str, alive: subprocess.Popen | None, timeout: float, since: int = 0) -> None:
    """Block until log shows `name`'s final initialization line (after byte `since`: a restart's, not an earlier
    run's); raise StartError on failure."""

    def ready() -> bool:
        for m in _FINAL.finditer(log_after(log, since)):
            if m["name"] == name:
                if m["how"] == "completed":
                    return True
                raise StartError(f"{name}: initialization failed")
        if alive is not None and alive.poll() is not None:
            raise StartError(f"{name}: exited with status {alive.returncode} before it was ready")
        return False

    procs.wait_until(ready, timeout, 0.05, f"{name}: not ready", error=StartError)


def start(
    program: str,
    name: str,
    config: Path,
    log: Path,
    cwd: Path,
    user: str | None = None,
    isolate: bool = False,
    timeout: float = 20,
) -> Daemon:
    """Start `program -n name -c config` in cwd (it makes its home dir there), logging to log.

    As root it runs as `user`: xrootd refuses to run as root.
    """
    cmd = [program, "-n", name, "-c", str(config)]
    if is_root():
        if not user:
            raise StartError(f"{program} refuses to run as root: name a user (xrootd.user)")
        cmd += ["-R", user]
    if isolate:
        cmd = isolated(cmd)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as sink:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True
        )
    daemon = Daemon(program, name, proc, log)
    try:
        wait_ready(log, name, proc, timeout)
    except StartError as e:
        daemon.stop()
        raise StartError(f"{program} {e}", log) from None
    return daemon
