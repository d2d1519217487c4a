"""A clean `cachemgr fsck` against the exporter's full cache scan on the same synthetic tree, side by side in one run.

python bench/fsck.py [--files 1000000] [--tree DIR] [--rounds 2]

Target (issue 15): a clean fsck <= 1.5x the exporter's full scan. The tree is bench/cinfo_scan.py's (kept in
--tree, generated once per file count): every cinfo beside its sparse data file, so fsck finds nothing. Each runs
in its own child process, a warm-up run first (as cinfo_scan.py does: the VM's page cache goes cold in seconds),
then the timed one; the order alternates between rounds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import cinfo_scan  # the tree and the scan's child come from there

from cachemgr.integrity.fsck import check
from cachemgr.integrity.target import Target


def _fsck_child(root: str) -> None:
    """Runs in a child: a warm-up fsck, then the timed one; prints its time, files and findings."""
    target = Target(roots=(Path(root),), disks=(), user=None, origins={}, run=None)
    check(target)
    t0 = time.perf_counter()
    report = check(target)
    print(f"{time.perf_counter() - t0:.3f} {report.files} {len(report.findings)}", flush=True)


def fsck_in_child(root: Path) -> tuple[float, int, int]:
    code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import fsck; "
    code += f"fsck._fsck_child({str(root)!r})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), int(out[1]), int(out[2])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1_000_000)
    ap.add_argument("--tree", type=Path, help="keep the generated tree here for reruns")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    tmp = None
    if args.tree is None:
        tmp = tempfile.mkdtemp(prefix="fsck-bench-")
        args.tree = Path(tmp)
    args.tree.mkdir(parents=True, exist_ok=True)
    try:
        root = cinfo_scan.tree(args.tree, args.files)
        print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
        scans, fscks = [], []
        for i in range(args.rounds):
            for which in ("scan", "fsck") if i % 2 == 0 else ("fsck", "scan"):
                if which == "scan":
                    full, _, files, _, _ = cinfo_scan.scan_in_child(root, 0)
                    scans.append(full)
                else:
                    took, checked, findings = fsck_in_child(root)
                    assert findings == 0 and checked == args.files, (checked, findings)
                    fscks.append(took)
            print(f"round {i + 1}: scan {scans[-1]:.2f} s, fsck {fscks[-1]:.2f} s", flush=True)
        med = statistics.median
        ratio = med(fscks) / med(scans)
        print(f"files={files} load={os.getloadavg()[0]:.1f}")
        print(
            f"clean fsck {med(fscks):.2f} s vs full scan {med(scans):.2f} s: {ratio:.2f}x target<=1.5x "
            f"({cinfo_scan.verdict(ratio <= 1.5)})"
        )
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
