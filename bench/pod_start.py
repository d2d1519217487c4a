"""The `local` node's cache started and stopped as a pod (image, podman kube play) and on the host (`cachemgr
supervise`, the image's entrypoint), rounds alternating, side by side in one run. Run as root in a private
network namespace, after images/build.sh:

unshare --net -- sh -c 'ip link set lo up && exec .venv/bin/python bench/pod_start.py [--rounds 3]'

Start: from `kube play` (or spawning supervise) until `cachemgr health --live` passes (both instances' xroot
ports answer). Stop: SIGTERM with the demo's 3 s drain until everything is gone. Memory: resident set of every
process of the cache (the pod's, seen from the host; supervise's process tree).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from cachemgr import sandbox
from cachemgr.podman import node as podman_node

REPO = Path(__file__).resolve().parents[1]
EXTRA = {"k8s.drain": "3s", "exporter.address": "127.0.0.1", "selftest.interval": "15s"}


def until(ok: Callable[[], bool], timeout: float = 300) -> float:
    start = time.monotonic()
    while not ok():
        if time.monotonic() - start > timeout:
            raise SystemExit(f"not live in {timeout} s")
        time.sleep(0.2)
    return time.monotonic() - start


def rss(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            total += psutil.Process(pid).memory_info().rss
    return total


def pod_round(root: Path) -> tuple[float, float, int]:
    node = podman_node.create(REPO / "k8s", "local", root, extra=EXTRA)
    start = time.monotonic()
    node.play()
    up = time.monotonic() - start + until(lambda: node.health("--live").returncode == 0)
    conmon = [p for p in psutil.process_iter(["cmdline"]) if node.container in " ".join(p.info["cmdline"] or [])]
    pids = [c.pid for p in conmon for c in p.children(recursive=True)]
    memory = rss(pids)
    start = time.monotonic()
    node.down()
    return up, time.monotonic() - start, memory


def host_round(root: Path) -> tuple[float, float, int]:
    box = sandbox.create(REPO / "k8s", "local", root, extra=EXTRA)
    start = time.monotonic()
    proc = box.supervise()
    health = [sys.executable, "-m", "cachemgr", "health", "--live", "--config", str(box.config_dir)]
    up = until(lambda: subprocess.run(health, capture_output=True).returncode == 0)
    parent = psutil.Process(proc.pid)
    memory = rss([proc.pid, *(c.pid for c in parent.children(recursive=True))])
    start = time.monotonic()
    proc.terminate()
    proc.wait(60)
    down = time.monotonic() - start
    sandbox.remove(box)
    return up, down, memory


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    figures: dict[str, list[tuple[float, float, int]]] = {"pod": [], "host": []}
    for i in range(args.rounds):
        for kind, round_ in (("pod", pod_round), ("host", host_round)):
            root = Path(tempfile.mkdtemp(prefix=f"cachemgr-bench-{kind}-"))
            root.chmod(0o755)
            try:
                figures[kind].append(round_(root / "cache"))
            finally:
                shutil.rmtree(root, ignore_errors=True)
            up, down, memory = figures[kind][-1]
            print(f"round {i + 1} {kind:4}: live after {up:5.1f} s, stopped in {down:4.1f} s, {memory >> 20} MiB")
    med = {k: [statistics.median(f[j] for f in v) for j in range(3)] for k, v in figures.items()}
    print(
        f"median  pod : live {med['pod'][0]:.1f} s, stop {med['pod'][1]:.1f} s, {int(med['pod'][2]) >> 20} MiB\n"
        f"median  host: live {med['host'][0]:.1f} s, stop {med['host'][1]:.1f} s, {int(med['host'][2]) >> 20} MiB\n"
        f"pod / host  : live {med['pod'][0] / med['host'][0]:.2f}x, stop {med['pod'][1] / med['host'][1]:.2f}x, "
        f"memory {med['pod'][2] / med['host'][2]:.2f}x"
    )


if __name__ == "__main__":
    main()
