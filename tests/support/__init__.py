"""What the tests share besides fixtures (those stay in tests/conftest.py, where pytest looks for them).

Each module is one kind of helper: `wait` (eventually), `metrics` (scrape an exporter, read its samples), `clients`
(xrdcp and curl), `demo` (`cachemgr demo` as a user runs it), `fleet` (`cachemgr demo --fleet`, read through its
redirector), `pod` (a node under `cachemgr supervise`), `origin` (a real xrootd origin), `scheduling` (the scheduler
under a virtual clock), `tokens` (SciTokens), `pki` (test certificates), and the servers `httpserve`, `ldapserver`,
`promserver`. Here: the repository's paths and running the CLI.
"""

from __future__ import annotations

import ctypes
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import psutil

from support.wait import eventually

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "k8s"

MINIMAL_SITE = """\
site:
  name: TEST_SITE
origin:
  host: origin.example.org:1094
"""


# The CLI as installed without the `render` extra: `import kubernetes` fails.
WITHOUT_CLIENT = (
    "import sys; sys.modules['kubernetes'] = None; from cachemgr.cli import main; sys.exit(main(sys.argv[1:]))"
)


def cachemgr(*args: str, cwd: Path | None = None, timeout: float = 120, env: dict | None = None, client: bool = True):
    """Run the real CLI as an admin would (client=False: as installed without the kubernetes client)."""
    return subprocess.run(
        [sys.executable, *(["-m", "cachemgr"] if client else ["-c", WITHOUT_CLIENT]), *args],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def stdout_lines(proc: subprocess.Popen) -> queue.Queue[str]:
    """proc's stdout (text), line by line, as it prints them."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    return lines


def printed(
    proc: subprocess.Popen,
    keys: Iterable[str],
    timeout: float,
    name: str,
    log: Callable[[], str],
    lines: queue.Queue[str] | None = None,
) -> dict:
    """The KEY=value lines a starting command prints on its stdout (text), once it has printed every key. The
    test fails when it exits or timeout passes first, with its log(). lines: its stdout_lines(), to read more
    of them later."""
    lines = lines or stdout_lines(proc)
    env: dict[str, str] = {}

    def missing() -> list[str]:
        return sorted(set(keys) - set(env))

    def failed() -> str:
        return f"{name} did not print {missing()} (exit {proc.poll()}):\n{log()}"

    def complete() -> bool:
        assert proc.poll() is None, failed()
        try:
            key, sep, value = lines.get(timeout=0.5).strip().partition("=")
        except queue.Empty:
            return False
        if sep:
            env[key] = value
        return not missing()

    if missing():
        eventually(complete, timeout, interval=0, message=failed)
    return env


def processes_naming(text: str) -> list[str]:
    """Command lines of running processes that contain text (a test's temp dir): what it left behind."""
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return [line for line in ps.splitlines() if text in line]


def running(p: psutil.Process) -> bool:
    """Whether p still runs (a zombie does not: it has exited, and this machine's PID 1 may never reap it)."""
    try:
        return p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def signal_another_thread(pid: int, signum: int) -> None:
    """Send signum to one of pid's threads but its main one, as the kernel may hand a `kill` to any (tgkill(2))."""
    others = [int(tid) for tid in os.listdir(f"/proc/{pid}/task") if int(tid) != pid]
    assert others, f"pid {pid} runs its main thread alone"
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.tgkill(pid, others[0], signum) != 0:
        raise OSError(ctypes.get_errno(), f"tgkill {pid} {others[0]}")
