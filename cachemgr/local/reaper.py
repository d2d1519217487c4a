"""What a demo started is gone however the demo ends: a reaper process beside it removes what is left.

A demo starts it first, in a session of its own, its stdin a pipe from the demo; before that the demo puts its dir
in its own environment (MARK), so every process it starts carries it: xrootd, supervise, supervisord and its
programs, podman, whether they setsid or their parent is gone. The demo tells the reaper the pods it plays (podman
runs their processes from an environment of its own). When the pipe closes, because the demo ended or died
(SIGKILL, a closed terminal, the OOM killer), the reaper kills every process carrying the mark, removes the pods
(no grace: nobody is served any more) and the demo's dir. After a clean stop it finds nothing; the demo waits for
it before it exits. Not as root it reaps the same way: the demo's processes are then all its user's.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psutil

from cachemgr.core import procs
from cachemgr.local.podman import engine

MARK = "CACHEMGR_DEMO_ROOT"  # in the environment of every process a demo starts: that demo's dir
KILL_WITHIN = 5.0  # seconds for the demo's processes to be gone (SIGKILL; again for any that forked meanwhile)


@dataclass
class Reaper:
    proc: subprocess.Popen

    def pod(self, name: str, played: Path) -> None:
        """Remove this pod too (played: the Deployment `kube play` runs)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{name}\t{played}\n".encode())
        self.proc.stdin.flush()

    def close(self, timeout: float = 60) -> None:
        """The demo's own end, after its stop: the reaper removes what is left (nothing, if the stop went well)."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):  # it finishes on its own
            self.proc.wait(timeout)


def start(root: Path) -> Reaper:
    """Mark every process started from here on with root, and start the reaper of root."""
    os.environ[MARK] = str(root)
    cmd = [sys.executable, "-m", "cachemgr.local.reaper"]
    return Reaper(subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, start_new_session=True))


def reap(root: Path, pods: list[tuple[str, Path]], spare: set[int]) -> list[str]:
    """Kill the processes marked with root (but spare), remove the pods, then root; what went wrong, if anything."""

    def killed() -> bool:
        left = [p for p in procs.carrying(MARK, str(root)) if p.pid not in spare]
        for p in left:
            with contextlib.suppress(psutil.Error):  # gone meanwhile
                p.kill()
        return not left

    problems = []
    try:
        procs.wait_until(killed, KILL_WITHIN, 0.05, f"processes of the demo in {root} still running")
    except procs.TimedOut as e:
        problems.append(str(e))
    for name, played in pods:
        try:
            engine.remove_pod(name, played, grace=0)
        except engine.EngineError as e:
            problems.append(str(e))
    shutil.rmtree(root, ignore_errors=True)
    return problems


def main() -> int:
    spare = {os.getpid(), os.getppid()}  # itself, and the demo while it waits for it
    pods = [line.decode().rstrip("\n").split("\t") for line in sys.stdin.buffer]  # until the demo closes it or dies
    problems = reap(Path(os.environ[MARK]), [(name, Path(played)) for name, played in pods], spare)
    for problem in problems:
        print(f"cachemgr demo: reaper: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
