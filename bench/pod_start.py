"""The `local` node's cache started and stopped as a pod (image, podman kube play) and on the host (`cachemgr
supervise`, the image's entrypoint), rounds alternating, side by side in one run. Run as root in a private
network namespace, after images/build.sh:

unshare --net -- sh -c 'ip link set lo up && exec .venv/bin/python bench/pod_start.py [--rounds 3]'

Start: from `kube play` (or spawning supervise) until a client sees it serve: both instances' xroot ports answer
the handshake and the public HTTP port serves robots.txt, polled every 0.1 s from outside (kube play itself
returns later; that time is printed too). Stop: SIGTERM with the demo's 3 s drain until everything is gone.
Memory: resident set of every process of the cache (the pod's, seen from the host; supervise's process tree).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import statistics
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import psutil

from cachemgr.core import xroot
from cachemgr.local import sandbox
from cachemgr.local.podman import node as podman_node
from cachemgr.render.engine import instances
from cachemgr.values.resolve import NodeValues

REPO = Path(__file__).resolve().parents[1]
EXTRA = {"k8s.drain": "3s", "exporter.address": "127.0.0.1", "selftest.interval": "15s"}


def until(ok: Callable[[], bool], timeout: float = 300) -> float:
    start = time.monotonic()
    while not ok():
        if time.monotonic() - start > timeout:
            raise SystemExit(f"not serving in {timeout} s")
        time.sleep(0.1)
    return time.monotonic() - start


def serving(v: NodeValues) -> Callable[[], bool]:
    """As a client sees it: every instance's xroot port answers the handshake and the public HTTP port serves
    robots.txt (preloaded: no origin needed)."""

    def ok() -> bool:
        if any(xroot.answers(i.port, timeout=1) for i in instances(v)):
            return False
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{v['ports.http']}/static/robots.txt", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    return ok


def rss(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            total += psutil.Process(pid).memory_info().rss
    return total


def pod_round(root: Path) -> tuple[float, float, int, float]:
    node = podman_node.create(REPO / "k8s", "local", root, extra=EXTRA)
    # `kube play` itself returns late (it waits on the init container's exit): time from outside meanwhile.
    play = threading.Thread(target=node.play)
    start = time.monotonic()
    play.start()
    up = until(serving(node.values))
    play.join()
    returned = time.monotonic() - start
    conmon = [p for p in psutil.process_iter(["cmdline"]) if node.container in " ".join(p.info["cmdline"] or [])]
    pids = [c.pid for p in conmon for c in p.children(recursive=True)]
    memory = rss(pids)
    start = time.monotonic()
    node.down()
    return up, time.monotonic() - start, memory, returned


def host_round(root: Path) -> tuple[float, float, int, float]:
    box = sandbox.create(REPO / "k8s", "local", root, extra=EXTRA)
    start = time.monotonic()
    proc = box.supervise()
    up = until(serving(box.values))
    parent = psutil.Process(proc.pid)
    memory = rss([proc.pid, *(c.pid for c in parent.children(recursive=True))])
    start = time.monotonic()
    proc.terminate()
    proc.wait(60)
    down = time.monotonic() - start
    sandbox.remove(box)
    return up, down, memory, up


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    figures: dict[str, list[tuple[float, float, int, float]]] = {"pod": [], "host": []}
    for i in range(args.rounds):
        for kind, round_ in (("pod", pod_round), ("host", host_round)):
            root = Path(tempfile.mkdtemp(prefix=f"cachemgr-bench-{kind}-"))
            root.chmod(0o755)
            try:
                figures[kind].append(round_(root / "cache"))
            finally:
                shutil.rmtree(root, ignore_errors=True)
            up, down, memory, returned = figures[kind][-1]
            print(
                f"round {i + 1} {kind:4}: serving after {up:5.1f} s (start command returned after {returned:5.1f} s), "
                f"stopped in {down:4.1f} s, {memory >> 20} MiB"
            )
    med = {k: [statistics.median(f[j] for f in v) for j in range(4)] for k, v in figures.items()}
    print(
        f"median  pod : serving {med['pod'][0]:.1f} s (kube play returned {med['pod'][3]:.1f} s), "
        f"stop {med['pod'][1]:.1f} s, {int(med['pod'][2]) >> 20} MiB\n"
        f"median  host: serving {med['host'][0]:.1f} s, stop {med['host'][1]:.1f} s, {int(med['host'][2]) >> 20} MiB\n"
        f"pod / host  : serving {med['pod'][0] / med['host'][0]:.2f}x, stop {med['pod'][1] / med['host'][1]:.2f}x, "
        f"memory {med['pod'][2] / med['host'][2]:.2f}x"
    )


if __name__ == "__main__":
    main()
