"""The demo fleet (`cachemgr demo --fleet N`): reads through its redirector vs straight from the origin, and failover.

Issue 13's figures, each measured side by side in one run, with real xrdcp clients on loopback:
* throughput: `--clients` concurrent xrdcp, each reading its own `--size` file, through the redirector (first pass:
  misses; second pass: hits) ÷ the same clients reading the same files straight from the origin;
* time to first byte: `--small` small files read one at a time through the redirector (miss, then hit) ÷ straight
  from the origin, p50 and p99;
* failover: `kill -9` of the node that serves a file (its FLEET_PIDS entry: the node goes as a whole), then the
  time until a read of that file through the redirector returns the right bytes; median and max over `--tries`.
  After each try the demo starts the node again (SIGUSR1).

python bench/fleet.py [--nodes 3] [--clients 16] [--size 64m] [--small 200] [--tries 10]

As root it re-executes itself in a private network namespace: the servers can only ever see 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import common

from cachemgr.core.units import parse_size

REPO = Path(__file__).resolve().parents[1]
KEYS = ("ORIGIN_XROOT", "ORIGIN_DIR", "REDIRECTOR_XROOT", "FLEET_CACHES", "FLEET_DIRS", "FLEET_PIDS")
# A dead port makes xrdcp retry for ~2 min: one attempt is enough on loopback, the timeouts bound the rest.
_CLIENT_ENV = {"XRD_CONNECTIONRETRY": "1", "XRD_CONNECTIONWINDOW": "5", "XRD_REQUESTTIMEOUT": "30"}


class BenchFailed(Exception):
    pass


class Fleet:
    """`cachemgr demo --fleet N` as a user runs it, and what it printed."""

    def __init__(self, nodes: int, log: Path, timeout: float = 120) -> None:
        self.log = log
        with open(log, "ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cachemgr", "demo", "--fleet", str(nodes)],
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                start_new_session=True,
            )
        self.lines: queue.Queue[str] = queue.Queue()
        stdout = self.proc.stdout
        assert stdout is not None
        threading.Thread(target=lambda: [self.lines.put(x) for x in stdout], daemon=True).start()
        self.env: dict[str, str] = {}
        self._printed(KEYS, timeout)
        self.dirs = [Path(d) for d in self.env["FLEET_DIRS"].split(",")]
        self.ports = [int(url.rsplit(":", 1)[1]) for url in self.env["FLEET_CACHES"].split(",")]
        self.origin_dir = Path(self.env["ORIGIN_DIR"])
        self.redirector = self.env["REDIRECTOR_XROOT"]
        self.origin = self.env["ORIGIN_XROOT"]

    @property
    def pids(self) -> list[int]:
        return [int(p) for p in self.env["FLEET_PIDS"].split(",")]

    def _printed(self, keys: tuple[str, ...], timeout: float) -> None:
        """Until the demo has printed every key (KEY=value lines)."""
        got: set[str] = set()
        deadline = time.monotonic() + timeout
        while not set(keys) <= got:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise BenchFailed(f"the demo fleet did not print {sorted(set(keys) - got)}\n{self.tail()}")
            with contextlib.suppress(queue.Empty):
                key, sep, value = self.lines.get(timeout=0.5).strip().partition("=")
                if sep:
                    self.env[key] = value
                    got.add(key)

    def restart_gone(self, timeout: float = 60) -> None:
        """The demo starts its nodes that are gone again on SIGUSR1, then prints FLEET_PIDS anew."""
        self.proc.send_signal(signal.SIGUSR1)
        self._printed(("FLEET_PIDS",), timeout)

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def put(self, rel: str, data: bytes) -> None:
        """A file on the origin (served at /rel as soon as it is there)."""
        path = self.origin_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def holders(self, rel: str, size: int) -> list[int]:
        """The nodes whose cache dir holds the whole file (on disk: data files are sparse while partial)."""
        found = []
        for n, d in enumerate(self.dirs):
            with contextlib.suppress(OSError):
                if (d / rel).stat().st_blocks * 512 >= size:
                    found.append(n)
        return found

    def stop(self) -> None:
        common.stop(self.proc, 30)


def xrdcp_to_null(url: str) -> subprocess.Popen:
    return subprocess.Popen(
        ["xrdcp", "-f", "-s", url, "/dev/null"],
        env={**os.environ, **_CLIENT_ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def concurrent_pass(base: str, rels: list[str], size: int) -> float:
    """Aggregate MB/s of one xrdcp per file, all started together: total bytes / first start to last end."""
    timeout = 60 + len(rels) * size / 20e6
    t0 = time.perf_counter()
    procs = [(rel, xrdcp_to_null(f"{base}//{rel}")) for rel in rels]
    failed = []
    for rel, proc in procs:
        try:
            _, err = proc.communicate(timeout=max(1.0, timeout - (time.perf_counter() - t0)))
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        if proc.returncode != 0:
            failed.append(f"{base}//{rel}: exit {proc.returncode}: {err.decode(errors='replace').strip()[-300:]}")
    elapsed = time.perf_counter() - t0
    if failed:
        raise BenchFailed("\n".join(failed))
    return len(rels) * size / 1e6 / elapsed


def first_byte(url: str, want: bytes, timeout: float = 30) -> float:
    """Seconds from starting `xrdcp URL -` to its first byte on stdout; the whole copy must equal want."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        ["xrdcp", "-f", "-s", url, "-"],
        env={**os.environ, **_CLIENT_ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        assert proc.stdout is not None and proc.stderr is not None
        head = proc.stdout.read(1)
        t1 = time.perf_counter()
        body = head + proc.stdout.read()
        err = proc.stderr.read()
        proc.wait()
    finally:
        timer.cancel()
    if proc.returncode != 0 or body != want:
        raise BenchFailed(
            f"xrdcp {url}: exit {proc.returncode}, {len(body)} of {len(want)} bytes: {err.decode()[-300:]}"
        )
    return t1 - t0


def reads_correctly(url: str, want: bytes, timeout: float) -> bool:
    try:
        r = subprocess.run(
            ["xrdcp", "-f", "-s", url, "-"], env={**os.environ, **_CLIENT_ENV}, capture_output=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return False
    return r.returncode == 0 and r.stdout == want


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_held(fleet: Fleet, rel: str, size: int, limit: float = 60) -> int:
    """Until one cache holds the whole file: its writes may lag the client's close. Returns that node."""
    deadline = time.monotonic() + limit
    while not (held := fleet.holders(rel, size)):
        if time.monotonic() > deadline:
            raise BenchFailed(f"/{rel} is in no cache dir {limit:.0f}s after its read\n{fleet.tail()}")
        time.sleep(0.05)
    return held[0]


@dataclass
class Figures:
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)  # what, through the redirector, direct, ratio

    def add(self, what: str, fleet: float, direct: float, unit: str, digits: int = 0) -> None:
        self.rows.append((what, f"{fleet:.{digits}f} {unit}", f"{direct:.{digits}f} {unit}", f"{fleet / direct:.2f}"))


def throughput(fleet: Fleet, clients: int, size: int, figures: Figures) -> None:
    rels = [f"bench/tp/file-{i:02d}.bin" for i in range(clients)]
    for rel in rels:
        fleet.put(rel, os.urandom(size))
    concurrent_pass(fleet.origin, rels, size)  # warm-up: the files in the origin's page cache for every pass
    direct_miss = concurrent_pass(fleet.origin, rels, size)
    miss = concurrent_pass(fleet.redirector, rels, size)
    placed = [wait_held(fleet, rel, size) for rel in rels]
    direct_hit = concurrent_pass(fleet.origin, rels, size)
    hit = concurrent_pass(fleet.redirector, rels, size)
    spread = ", ".join(f"node {n}: {placed.count(n)}" for n in range(len(fleet.dirs)))
    in_one = sum(len(fleet.holders(rel, size)) == 1 for rel in rels)
    print(f"throughput: {clients} files of {size >> 20} MiB placed {spread}; {in_one} in exactly one cache", flush=True)
    figures.add(f"throughput, {clients} clients, first pass (misses)", miss, direct_miss, "MB/s")
    figures.add(f"throughput, {clients} clients, second pass (hits)", hit, direct_hit, "MB/s")


def time_to_first_byte(fleet: Fleet, files: int, size: int, figures: Figures) -> None:
    """A failed read through the redirector is counted and reported, not timed; a failed direct one ends the run."""
    blobs = {f"bench/ttfb/file-{i:03d}.bin": os.urandom(size) for i in range(files)}
    for rel, data in blobs.items():
        fleet.put(rel, data)
    got: dict[str, list[float]] = {"direct miss": [], "miss": [], "direct hit": [], "hit": []}
    failed: dict[str, list[str]] = {"miss": [], "hit": []}
    for kind in ("miss", "hit"):  # each read through the redirector beside a direct one, so load drifts hit both
        for rel, data in blobs.items():
            got[f"direct {kind}"].append(first_byte(f"{fleet.origin}//{rel}", data))
            try:
                got[kind].append(first_byte(f"{fleet.redirector}//{rel}", data))
            except BenchFailed as e:
                failed[kind].append(str(e))
                print(f"time to first byte, {kind}: FAILED: {e}", flush=True)
    in_one = sum(len(fleet.holders(rel, size)) == 1 for rel in blobs)
    print(f"time to first byte: {in_one} of {files} files in exactly one cache after both passes", flush=True)
    for kind in ("miss", "hit"):
        errors = f", {len(failed[kind])} of {files} FAILED" if failed[kind] else ""
        for p in (50, 99):
            ms = 1000
            direct = ms * common.pct(got[f"direct {kind}"], p)
            figures.add(f"time to first byte, {kind}, p{p}{errors}", ms * common.pct(got[kind], p), direct, "ms", 1)


def failover(fleet: Fleet, tries: int, bound: float, figures: Figures) -> None:
    """Each try: read a new file through the redirector, kill -9 the node that took it, then time from the kill
    to the first read of that file through the redirector returning the right bytes; then the demo starts the
    node again (SIGUSR1) for the next try."""
    size = 1 << 20
    times: list[float] = []
    for n in range(1, tries + 1):
        rel, data = f"bench/failover/file-{n:02d}.bin", os.urandom(size)
        fleet.put(rel, data)
        if not reads_correctly(f"{fleet.redirector}//{rel}", data, timeout=60):
            raise BenchFailed(f"the first read of /{rel} through the redirector failed\n{fleet.tail()}")
        victim = wait_held(fleet, rel, size)
        killed = time.perf_counter()
        os.kill(fleet.pids[victim], signal.SIGKILL)
        # Its processes die with it, but not in the same instant: a read before its xrootd is gone is no failover.
        while listening(fleet.ports[victim]):
            if time.perf_counter() - killed > bound:
                raise BenchFailed(f"node {victim} still listens {bound:g}s after kill -9 of its supervise")
            time.sleep(0.005)
        attempts = 0
        while True:
            attempts += 1
            left = bound - (time.perf_counter() - killed)
            if left <= 0:
                raise BenchFailed(f"no correct read {bound:g}s after kill -9 of node {victim}\n{fleet.tail()}")
            if reads_correctly(f"{fleet.redirector}//{rel}", data, timeout=left):
                break
            time.sleep(0.05)
        times.append(time.perf_counter() - killed)
        others = [i for i in fleet.holders(rel, size) if i != victim]  # the dead node's dir keeps its copy
        print(
            f"failover try {n}: kill -9 of node {victim}, read again after {times[-1]:.3f}s ({attempts} reads), "
            f"now also in node {others}",
            flush=True,
        )
        fleet.restart_gone()
    figures.rows.append(
        (
            f"failover after kill -9 of the serving node, median / max of {tries}",
            f"{statistics.median(times):.3f} s / {max(times):.3f} s",
            "",
            "",
        )
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--nodes", type=int, default=3, help="cache nodes in the fleet (default 3)")
    ap.add_argument("--clients", type=int, default=16, help="concurrent clients, one file each (default 16)")
    ap.add_argument("--size", default="64m", help="each client's file (default 64m)")
    ap.add_argument("--small", type=int, default=200, help="small files for time to first byte (default 200)")
    ap.add_argument("--small-size", default="4k", help="their size (default 4k)")
    ap.add_argument("--tries", type=int, default=10, help="failover tries (default 10)")
    ap.add_argument("--bound", type=float, default=60, help="fail when a failover takes longer (s, default 60)")
    ap.add_argument("--keep-log", type=Path, help="on failure, copy the demo's output (its programs' logs) here")
    args = ap.parse_args()
    for tool in ("xrootd", "cmsd", "xrdcp"):
        if not shutil.which(tool):
            print(f"fleet: {tool} is not installed; run images/install.sh first", file=sys.stderr)
            return 1
    common.private_netns()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))  # unwind through the cleanup
    root = Path(tempfile.mkdtemp(prefix="cachemgr-bench-fleet-"))
    figures = Figures()
    fleet = None
    began = time.monotonic()
    try:
        fleet = Fleet(args.nodes, root / "fleet.log")
        throughput(fleet, args.clients, parse_size(args.size), figures)
        time_to_first_byte(fleet, args.small, parse_size(args.small_size), figures)
        failover(fleet, args.tries, args.bound, figures)
    except BenchFailed as e:
        print(f"fleet: FAILED: {e}", file=sys.stderr)
        if args.keep_log:
            shutil.copy(root / "fleet.log", args.keep_log)
            print(f"fleet: the demo's output (every program's log) is in {args.keep_log}", file=sys.stderr)
        return 1
    finally:
        if fleet is not None:
            fleet.stop()
        shutil.rmtree(root, ignore_errors=True)
    print(f"\n{args.nodes} nodes, {time.monotonic() - began:.0f} s\n")
    print("| figure | through the redirector | direct from the origin | ratio |\n|---|---|---|---|")
    for row in figures.rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
