"""What is on the cache disks, from the .cinfo files under the namespace root, by namespace prefix.

Scans run in a background thread and are incremental: a cinfo file whose (mtime, size) did not change is
not read again, and the data file of an unchanged complete file is not stat'ed again either (its blocks are all
written, so its st_blocks cannot grow), so a rescan of an unchanged cache costs one stat per complete file and
two per partial one. Files vanish while we scan (purge): that is normal, not an error.

To keep up with tar and find on a big cache (bench/cinfo_scan.py) the walk is split into units (directory
subtrees) handed to a pool of worker processes, one per core: parsing is Python, so threads would serialize.
What a scan learnt about each unit's files comes back as one compact State (a str of names, a bytes of fixed
records) that the next scan hands back with the unit; per-file Python objects would cost ~600 B each.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import selectors
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from cachemgr.stats import cinfo

SUFFIX = ".cinfo"
# One cinfo file as the last scan saw it: mtime_ns, size, its data file's bytes on disk, then its summary (a bad
# file: flags BAD, zeros).
REC = struct.Struct("<qqqqBQqqqq")  # mtime_ns, size, disk, file_size, flags, accesses, hit, miss, bypass, last_access
_MT = struct.Struct("<qq")
FLAGS_AT = 32  # offset of flags in a REC
COMPLETE, BAD = 1, 2
# Per prefix, the order of UnitResult.totals. Disk bytes (index 2): a State's sums hold the complete files'; the
# partial files' are stat'ed afresh each scan and added.
FIELDS = ("files", "complete", "disk_bytes", "logical_bytes", "accesses", "hit", "miss", "bypass", "last_access", "bad")
UNITS_PER_WORKER = 8  # split the tree until there are this many subtrees per worker (or MAX_CUT levels)
MAX_CUT = 6
_PKG_ROOT = str(Path(__file__).resolve().parents[3])  # where the workers import cachemgr from


def _workers() -> int:
    return max(1, min(len(os.sched_getaffinity(0)), 4))


@dataclass
class Totals:
    files: int = 0
    complete: int = 0
    disk_bytes: int = 0
    logical_bytes: int = 0
    accesses: int = 0
    hit: int = 0
    miss: int = 0
    bypass: int = 0
    last_access: int = 0
    bad: int = 0

    def add(self, values: list[int]) -> None:
        for name, v in zip(FIELDS, values, strict=True):
            setattr(self, name, max(self.last_access, v) if name == "last_access" else getattr(self, name) + v)


@dataclass(frozen=True)
class Snapshot:
    by_prefix: dict[str, Totals]
    finished: float  # Unix time
    duration: float
    parsed: int  # cinfo files read in this scan (the rest were unchanged)


class Unit(NamedTuple):
    path: str
    parts: tuple[str, ...]  # namespace path components of path, from the root
    recursive: bool  # False: only the files directly in path (a directory above the cut)


class State(NamedTuple):
    names: str  # "\0"-joined cinfo paths relative to the unit
    recs: bytes  # one REC per name
    sums: dict[str, list[int]]  # prefix -> totals of the records (disk bytes: complete files only)


class UnitResult(NamedTuple):
    state: State | None  # None: the same files, unchanged, as the State handed in
    totals: dict[str, list[int]]  # prefix -> values in FIELDS order
    parsed: int
    errors: int


def _record(st: os.stat_result, data: bytes, disk: int) -> bytes:
    try:
        fs, complete, acc, hit, miss, byp, last = cinfo.summary(data)
    except cinfo.CinfoError:
        return REC.pack(st.st_mtime_ns, st.st_size, disk, 0, BAD, 0, 0, 0, 0, 0)
    return REC.pack(st.st_mtime_ns, st.st_size, disk, fs, complete, acc, hit, miss, byp, last)


def _disk(name: str, dir_fd: int) -> int:
    """Bytes the data file beside a cinfo file uses; 0 when gone (purge removes the data file first)."""
    try:
        return os.stat(name[: -len(SUFFIX)], dir_fd=dir_fd).st_blocks * 512
    except FileNotFoundError:
        return 0


def _read(name: str, dir_fd: int, size: int) -> bytes:
    fd = os.open(name, os.O_RDONLY, dir_fd=dir_fd)
    try:
        chunks = [os.read(fd, size + 4096)]
        while len(chunks[-1]) == size + 4096:  # grew since the stat: read it all, as cinfo.read does
            chunks.append(os.read(fd, 1 << 16))
        return b"".join(chunks)
    finally:
        os.close(fd)


def _sum_records(names: list[str], recs: bytes, parts: tuple[str, ...], depth: int) -> dict[str, list[int]]:
    sums: dict[str, list[int]] = {}
    fixed = "/" + "/".join(parts[:depth]) if len(parts) >= depth else None
    for name, (_, _, disk, fs, flags, acc, hit, miss, byp, last) in zip(names, REC.iter_unpack(recs), strict=True):
        prefix = fixed or "/" + "/".join([*parts, *name.split("/")[:-1]][:depth])
        t = sums.get(prefix) or sums.setdefault(prefix, [0] * len(FIELDS))
        if flags & BAD:
            t[9] += 1
            continue
        t[0] += 1
        if flags & COMPLETE:
            t[1] += 1
            t[2] += disk
        t[3] += fs
        t[4] += acc
        t[5] += hit
        t[6] += miss
        t[7] += byp
        t[8] = max(t[8], last)
    return sums


def scan_unit(unit: Unit, depth: int, state: State | None) -> UnitResult:
    """Walk one unit (in a worker process): stat every cinfo file, read the new or changed ones."""
    old_names = state.names.split("\0") if state and state.names else []
    old_recs = state.recs if state else b""
    index = dict(zip(old_names, range(len(old_names)), strict=True))
    matched: list[int] = []  # old records still valid
    new_names: list[str] = []
    new_recs = bytearray()
    disk: dict[str, int] = {}
    errors = 0
    size = REC.size
    stack = [(unit.path, "", unit.parts)]
    while stack:
        path, rel, parts = stack.pop()
        try:
            dir_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            continue
        except OSError:
            errors += 1
            continue
        prefix = "/" + "/".join(parts[:depth])
        used = 0
        try:
            with os.scandir(dir_fd) as it:
                entries = list(it)
            for entry in entries:
                name = entry.name
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if unit.recursive:
                            stack.append((f"{path}/{name}", f"{rel}{name}/", (*parts, name)))
                        continue
                    if not name.endswith(SUFFIX):
                        continue
                    # Follows symlinks: multi-disk caches link cinfo files into the meta space.
                    st = os.stat(name, dir_fd=dir_fd)
                    i = index.get(rel + name)
                    if i is not None and _MT.unpack_from(old_recs, i * size) == (st.st_mtime_ns, st.st_size):
                        matched.append(i)
                        if not old_recs[i * size + FLAGS_AT] & COMPLETE:
                            used += _disk(name, dir_fd)
                    else:
                        disk_bytes = _disk(name, dir_fd)
                        record = _record(st, _read(name, dir_fd, st.st_size), disk_bytes)
                        new_recs += record
                        new_names.append(rel + name)
                        if not record[FLAGS_AT] & COMPLETE:
                            used += disk_bytes
                except FileNotFoundError:
                    continue
                except OSError:
                    errors += 1
        except OSError:
            errors += 1
        finally:
            os.close(dir_fd)
        disk[prefix] = disk.get(prefix, 0) + used
    if state is not None and not new_names and len(matched) == len(old_names):
        new_state, sums = None, state.sums  # the common rescan: nothing to rebuild
    else:
        view = memoryview(old_recs)
        names = [old_names[i] for i in matched] + new_names
        recs = b"".join([*(view[i * size : (i + 1) * size] for i in matched), new_recs])
        sums = _sum_records(names, recs, unit.parts, depth)
        new_state = State("\0".join(names), recs, sums)
    totals = {p: list(t) for p, t in sums.items()}
    for p, used in disk.items():
        (totals.get(p) or totals.setdefault(p, [0] * len(FIELDS)))[2] += used
    return UnitResult(new_state, totals, len(new_names), errors)


def _serve() -> None:
    """A worker's loop: pickled scan_unit arguments on stdin, pickled results on stdout."""
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            args = pickle.load(inp)
        except EOFError:
            return  # the exporter closed our stdin, or died
        pickle.dump(scan_unit(*args), out, pickle.HIGHEST_PROTOCOL)
        out.flush()


class _Worker:
    """A `python -c` child running _serve. Not multiprocessing: fork would copy the exporter's HTTP and UDP
    threads mid-flight, and spawn/forkserver re-import the program's __main__."""

    def __init__(self) -> None:
        path = [_PKG_ROOT, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        self.proc = subprocess.Popen(
            [sys.executable, "-c", f"from {__name__} import _serve; _serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(path)},
            start_new_session=True,  # a ^C to the exporter's process group is for the exporter to handle
        )
        assert self.proc.stdin and self.proc.stdout
        self.inp, self.out = self.proc.stdin, self.proc.stdout
        self.fd = self.out.fileno()

    def send(self, args: tuple) -> None:
        pickle.dump(args, self.inp, pickle.HIGHEST_PROTOCOL)
        self.inp.flush()

    def receive(self) -> UnitResult:
        return pickle.load(self.out)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.inp.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.out.close()


@dataclass
class CacheScan:
    root: Path
    depth: int
    snapshot: Snapshot | None = None
    scans: int = 0
    errors: int = 0
    workers: int = field(default_factory=_workers)
    _states: dict[Unit, State] = field(default_factory=dict)
    _pool: list[_Worker] = field(default_factory=list)

    def scan(self) -> Snapshot:
        start = time.monotonic()
        units = self._units()
        states, self._states = self._states, {}  # units gone since the last scan drop out here
        # Biggest first (by what the last scan found), so the workers finish together.
        units.sort(key=lambda u: -len(states[u].recs) if u in states else 0)
        totals: dict[str, Totals] = {}
        parsed = 0
        for unit, old, result in self._run(units, states):
            state = result.state or old
            if state is not None and state.names:
                self._states[unit] = state
            for prefix, values in result.totals.items():
                if any(values):
                    totals.setdefault(prefix, Totals()).add(values)
            parsed += result.parsed
            self.errors += result.errors
        self.scans += 1
        self.snapshot = Snapshot(totals, time.time(), time.monotonic() - start, parsed)
        return self.snapshot

    def _run(self, units: list[Unit], states: dict[Unit, State]) -> Iterator[tuple[Unit, State | None, UnitResult]]:
        if self.workers <= 1 or len(units) <= 1:
            for unit in units:
                old = states.pop(unit, None)
                yield unit, old, scan_unit(unit, self.depth, old)
            return
        while len(self._pool) < self.workers:
            self._pool.append(_Worker())
        todo = iter(units)
        busy: dict[int, tuple[_Worker, Unit, State | None]] = {}
        with selectors.DefaultSelector() as sel:
            try:
                # One unit in flight per worker: with two, a worker blocked writing a big result while we block
                # writing its next state would deadlock.
                for worker in self._pool:
                    self._send(worker, next(todo, None), states, busy, sel)
                while busy:
                    for key, _ in sel.select():
                        worker, unit, old = busy.pop(key.fd)
                        sel.unregister(key.fd)
                        result = worker.receive()
                        self._send(worker, next(todo, None), states, busy, sel)
                        yield unit, old, result
            except (OSError, EOFError, pickle.UnpicklingError) as e:
                self.close()  # fresh workers next scan
                raise OSError(f"scan worker failed: {e}") from None

    def _send(
        self,
        worker: _Worker,
        unit: Unit | None,
        states: dict[Unit, State],
        busy: dict[int, tuple[_Worker, Unit, State | None]],
        sel: selectors.BaseSelector,
    ) -> None:
        if unit is None:
            return
        old = states.pop(unit, None)
        worker.send((unit, self.depth, old))
        busy[worker.fd] = (worker, unit, old)
        sel.register(worker.fd, selectors.EVENT_READ)

    def _units(self) -> list[Unit]:
        """Directories above the cut (their own files) and the subtrees at the cut, which is as deep as it
        takes to get UNITS_PER_WORKER subtrees per worker, so that the walk spreads over the workers."""
        units = []
        frontier: list[tuple[str, tuple[str, ...]]] = [(str(self.root), ())]
        level = 0
        while frontier and len(frontier) < UNITS_PER_WORKER * self.workers and level < MAX_CUT:
            below = []
            for path, parts in frontier:
                try:
                    with os.scandir(path) as it:
                        entries = list(it)
                except FileNotFoundError:
                    continue
                except OSError:
                    self.errors += 1
                    continue
                files = False
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            below.append((entry.path, (*parts, entry.name)))
                        elif entry.name.endswith(SUFFIX):
                            files = True
                    except OSError:
                        self.errors += 1
                if files:
                    units.append(Unit(path, parts, False))
            frontier = below
            level += 1
        units.extend(Unit(path, parts, True) for path, parts in frontier)
        return units

    def close(self) -> None:
        pool, self._pool = self._pool, []
        for worker in pool:
            worker.close()

    def run(self, interval: float, stop: threading.Event) -> None:
        """Scan every interval seconds until stop is set (the exporter's background thread)."""
        try:
            while not stop.is_set():
                try:
                    self.scan()
                except OSError:
                    self.errors += 1
                stop.wait(interval)
        finally:
            self.close()


GAUGES = {  # Totals field -> metric, by namespace prefix
    "files": ("cachemgr_cache_files", "Cached files (with a valid cinfo file)."),
    "complete": ("cachemgr_cache_complete_files", "Cached files with every block on disk."),
    "disk_bytes": ("cachemgr_cache_disk_bytes", "Bytes cached files use on disk (st_blocks * 512)."),
    "logical_bytes": ("cachemgr_cache_logical_bytes", "Sum of the cached files' full sizes."),
    "accesses": ("cachemgr_cache_accesses", "Sum of the cached files' access counts."),
    "last_access": ("cachemgr_cache_last_access_timestamp_seconds", "Latest access to a cached file."),
    "bad": ("cachemgr_cache_bad_cinfo_files", "cinfo files XRootD itself would refuse."),
}


class CacheScanCollector:
    def __init__(self, scan: CacheScan):
        self.scan = scan

    def collect(self) -> Iterator[Metric]:
        scan = self.scan
        yield CounterMetricFamily("cachemgr_cache_scans", "Completed scans of the cache namespace.", scan.scans)
        yield CounterMetricFamily(
            "cachemgr_cache_scan_errors", "Directories or files the scan could not read.", scan.errors
        )
        snap = scan.snapshot
        if snap is None:
            return
        yield GaugeMetricFamily("cachemgr_cache_scan_duration_seconds", "How long the last scan took.", snap.duration)
        yield GaugeMetricFamily("cachemgr_cache_scan_timestamp_seconds", "When the last scan finished.", snap.finished)
        yield GaugeMetricFamily(
            "cachemgr_cache_scan_parsed_files", "cinfo files the last scan had to read (new or changed).", snap.parsed
        )
        rows = sorted(snap.by_prefix.items())
        for attr, (name, doc) in GAUGES.items():
            family = GaugeMetricFamily(name, doc, labels=["path"])
            for path, t in rows:
                family.add_metric([path], getattr(t, attr))
            yield family
        family = GaugeMetricFamily(
            "cachemgr_cache_read_bytes",
            "Bytes read from cached files as their cinfo access records tell (hit: from disk, miss: fetched, "
            "bypass: not cached); drops when files are purged.",
            labels=["path", "type"],
        )
        for path, t in rows:
            for kind, value in (("hit", t.hit), ("miss", t.miss), ("bypass", t.bypass)):
                family.add_metric([path, kind], value)
        yield family
