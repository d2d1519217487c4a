"""The exporter's cache scan against tar and find on a synthetic v4 cinfo tree, side by side in one run.

python bench/cinfo_scan.py [--files 1000000] [--tree DIR] [--rounds 3] [--scrapes 200]

Targets (issue 5): full scan <= 1.0x `tar -S -cf - TREE | cat`, unchanged rescan <= 1.0x
`find TREE -printf '%s\\n'`, peak RSS of the scanning processes <= 256 MB, /metrics p99 <= 50 ms during a scan.
The tree is kept in --tree (generated once per file count); without --tree it goes to a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import psutil

from cachemgr.stats.exporter import Exporter
from cachemgr.stats.scan import CacheScan
from cachemgr.stats.settings import Settings
from cachemgr.xcache import synth

FANOUT = 32


def _generate_top(root: str, top: int, files: int, seed: int) -> None:
    """The files of top directory dNN (files top, top+FANOUT, ...), one process per top directory."""
    synth.write_tree(Path(root), files, seed=seed * 1000 + top, fanout=FANOUT, start=top, step=FANOUT)


def tree(base: Path, files: int) -> Path:
    root = base / f"tree-{files}"
    marker = base / f"tree-{files}.done"
    if marker.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    t0 = time.perf_counter()
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(_generate_top, [str(root)] * FANOUT, range(FANOUT), [files] * FANOUT, [1] * FANOUT))
    marker.touch()
    print(f"generated {files} cinfo + data files in {time.perf_counter() - t0:.0f} s", flush=True)
    return root


def timed(cmd: str) -> float:
    """Seconds for the second of two runs back to back: the first warms the page cache."""
    for _ in range(2):
        t0 = time.perf_counter()
        subprocess.run(["sh", "-c", cmd], check=True)
    return time.perf_counter() - t0


def _scan_child(root: str, rescans: int) -> None:
    """Runs in a child: one full scan, then rescans; prints the times (the parent reads ru_maxrss)."""
    peak = [0]
    done = threading.Event()

    def sample() -> None:  # the sum over the scan's processes (ru_maxrss only knows the largest one)
        me = psutil.Process()
        while not done.wait(0.1):
            try:
                procs = [me, *me.children(recursive=True)]
                peak[0] = max(peak[0], sum(p.memory_info().rss for p in procs))
            except psutil.NoSuchProcess:
                pass

    threading.Thread(target=sample, daemon=True).start()
    warm = CacheScan(Path(root), 2)
    warm.scan()  # page cache warm, as for tar and find (this VM's DAMON reclaims cold page cache within seconds)
    warm.close()
    del warm  # its states would count in the RSS
    scan = CacheScan(Path(root), 2)
    t0 = time.perf_counter()
    snap = scan.scan()
    times = [time.perf_counter() - t0]
    for _ in range(rescans):
        t0 = time.perf_counter()
        again = scan.scan()
        times.append(time.perf_counter() - t0)
        assert again.parsed == 0, again.parsed
    files = sum(t.files + t.bad for t in snap.by_prefix.values())
    done.set()
    scan.close()
    print(" ".join(f"{t:.3f}" for t in times), files, snap.parsed, peak[0], flush=True)


def scan_in_child(root: Path, rescans: int) -> tuple[float, list[float], int, int, int]:
    """(full scan s, rescan s, files, ru_maxrss bytes of the largest process, RSS sum of the scan's processes)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import cinfo_scan; "
    code += f"cinfo_scan._scan_child({str(root)!r}, {rescans})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    maxrss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    times = [float(t) for t in out[: rescans + 1]]
    files, parsed, rss_sum = map(int, out[rescans + 1 :])
    assert parsed == files, (parsed, files)
    return times[0], times[1:], files, max(maxrss, before) * 1024, rss_sum


def metrics_latency(root: Path, scrapes: int) -> tuple[list[float], float]:
    """Scrape the real Exporter's /metrics during its first (full) scan: latencies in s, scan duration."""
    with tempfile.TemporaryDirectory() as tmp:
        ex = Exporter(
            Settings(
                "127.0.0.1:0",
                root,
                summary_port=0,
                gstream_port=0,
                scan_interval=3600,
                run_dir=Path(tmp),
                disable=("processes",),  # no supervisord here
            )
        )
        scan = ex.collectors["cache_scan"].scan
        try:
            lat: list[float] = []
            # At least one scrape: a tiny tree's scan can end before the first (then that one comes just after).
            while (scan.snapshot is None or not lat) and len(lat) < scrapes:
                t0 = time.perf_counter()
                with urllib.request.urlopen(ex.url, timeout=10) as r:
                    r.read()
                lat.append(time.perf_counter() - t0)
                time.sleep(0.01)
            while scan.snapshot is None:
                time.sleep(0.1)
            return lat, scan.snapshot.duration
        finally:
            ex.stop()


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1_000_000)
    ap.add_argument("--tree", type=Path, help="keep the generated tree here for reruns")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scrapes", type=int, default=200)
    args = ap.parse_args()
    tmp = None
    if args.tree is None:
        tmp = tempfile.mkdtemp(prefix="cinfo-scan-")
        args.tree = Path(tmp)
    args.tree.mkdir(parents=True, exist_ok=True)
    try:
        root = tree(args.tree, args.files)
        print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
        tar, find, full, rescan = [], [], [], []
        maxrss = rss_sum = 0
        for _ in range(args.rounds):  # alternate, so drift in the machine's load hits both alike
            tar.append(timed(f"tar -C {root.parent} -S -cf - {root.name} | cat >/dev/null"))
            find.append(timed(f"find {root} -printf '%s\\n' >/dev/null"))
            f, r, files, mx, rs = scan_in_child(root, 2)
            full.append(f)
            rescan.extend(r)
            maxrss, rss_sum = max(maxrss, mx), max(rss_sum, rs)
            print(f"round: tar {tar[-1]:.2f} find {find[-1]:.2f} full {f:.2f} rescans {r}", flush=True)
        lat, during = metrics_latency(root, args.scrapes)
        lat.sort()
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        med = statistics.median
        a, b = med(full) / med(tar), med(rescan) / med(find)
        print(f"files={files} workers={CacheScan(root, 2).workers} load={os.getloadavg()[0]:.1f}")
        print(f"(a) full scan {med(full):.2f} s vs tar {med(tar):.2f} s: {a:.2f}x target<=1.0x ({verdict(a <= 1)})")
        print(f"(b) rescan {med(rescan):.2f} s vs find {med(find):.2f} s: {b:.2f}x target<=1.0x ({verdict(b <= 1)})")
        print(
            f"(c) peak RSS {maxrss / 1e6:.0f} MB (largest process), {rss_sum / 1e6:.0f} MB (all scan processes) "
            f"target<=256 MB ({verdict(max(maxrss, rss_sum) <= 256e6)})"
        )
        print(
            f"(d) /metrics p99 {p99 * 1e3:.1f} ms (max {lat[-1] * 1e3:.1f}, n={len(lat)}) during a {during:.1f} s "
            f"scan, target<=50 ms ({verdict(p99 <= 0.05)})"
        )
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
