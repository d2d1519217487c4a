"""What the benches share: a private network namespace, stopping what they started, percentiles.

private_netns: as root, re-exec the running bench in a new network namespace with only lo up (as tests/run.sh does
the tests). The servers a bench starts listen on every interface (xrootd has no bind address): there they can only
see lo.
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from cachemgr.local.xrootd import process

_IN_NETNS = "CACHEMGR_BENCH_NETNS"  # set once we run inside the private namespace, so we re-exec only once


def private_netns() -> None:
    if not process.is_root() or os.environ.get(_IN_NETNS):
        return
    name = Path(sys.argv[0]).stem
    if not (shutil.which("unshare") and shutil.which("ip")):
        sys.exit(f"{name}: as root this needs unshare and ip (util-linux, iproute2) to isolate the servers")
    os.environ[_IN_NETNS] = "1"
    script = ["sh", "-c", 'ip link set lo up && exec "$0" "$@"', sys.executable, str(Path(sys.argv[0]).resolve())]
    os.execvp("unshare", ["unshare", "--net", "--", *script, *sys.argv[1:]])


def stop(proc: subprocess.Popen, timeout: float) -> None:
    """SIGTERM to proc; after timeout SIGKILL to its whole process group (it was started in a session of its own)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]
