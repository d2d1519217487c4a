"""`cachemgr evict` of a whole prefix against plain deletion of the same files, side by side in one run.

python bench/evict.py [--files 20000] [--rounds 3]

What evict adds to an unlink: each file's two names are renamed away, then checked against the open files of every
running xrootd, read from /proc (integrity/openfiles.py); a real xrootd runs during the bench so those reads have a
process to look at. Evict is timed as an admin runs it, `cachemgr evict --root ROOT /` (start-up, the walk, a line
printed per file to /dev/null). The tree is rebuilt before each timed run (pairs of a 4 KiB data file and its
.cinfo); "plain" unlinks every file of the same tree, found by the same walk, in this process. The order alternates
between rounds. Target: evict <= 3x plain deletion.
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
from common import private_netns

from cachemgr.integrity.target import Target
from cachemgr.local import sandbox
from cachemgr.local.xrootd import origin
from cachemgr.xcache import openfiles
from cachemgr.xcache.layout import cached_files


def tree(root: Path, files: int) -> None:
    shutil.rmtree(root, ignore_errors=True)
    for i in range(files):
        data = root / f"d{i // 1000:03d}" / f"f{i:06d}.bin"
        if i % 1000 == 0:
            data.parent.mkdir(parents=True)
        data.write_bytes(b"x" * 4096)
        Path(f"{data}.cinfo").write_bytes(b"c" * 128)
    os.sync()


def evict(target: Target) -> None:
    (root,) = target.roots
    cmd = [sys.executable, "-m", "cachemgr", "evict", "--root", str(root), "/"]
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True, cwd=Path(__file__).parents[1])


def plain(target: Target) -> None:
    for cf in cached_files(target):
        os.unlink(cf.cinfo)
        os.unlink(cf.data)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    private_netns()
    work = Path(tempfile.mkdtemp(prefix="evict-bench-"))
    work.chmod(0o755)
    up = origin.start(work / "origin", sandbox.run_user())  # a real xrootd whose fds every sweep reads
    try:
        root = work / "cache"
        target = Target(roots=(root,), disks=(), user=None, origins={}, run=None)
        fds = len(os.listdir(f"/proc/{openfiles.xrootd_pids()[0]}/fd"))
        print(f"xrootd processes {len(openfiles.xrootd_pids())} (fds {fds}), load {os.getloadavg()[0]:.1f}")
        times: dict[str, list[float]] = {"evict": [], "plain": []}
        for i in range(args.rounds):
            for name in ("evict", "plain") if i % 2 == 0 else ("plain", "evict"):
                tree(root, args.files)
                t0 = time.perf_counter()
                (evict if name == "evict" else plain)(target)
                times[name].append(time.perf_counter() - t0)
                assert next(cached_files(target), None) is None, f"{name} left files"
            print(f"round {i + 1}: evict {times['evict'][-1]:.2f} s, plain {times['plain'][-1]:.2f} s", flush=True)
        med = {k: statistics.median(v) for k, v in times.items()}
        ratio = med["evict"] / med["plain"]
        per_file = med["evict"] / args.files * 1e6
        print(
            f"files={args.files}: evict {med['evict']:.2f} s ({per_file:.0f} us a file) vs plain {med['plain']:.2f} s:"
            f" {ratio:.2f}x target<=3x ({'met' if ratio <= 3 else 'MISSED'})"
        )
    finally:
        up.daemon.stop(timeout=1)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
