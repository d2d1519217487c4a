"""What is on the cache disks, from the .cinfo files under the namespace root, by namespace prefix.

Scans run in a background thread (the cache_scan collector serves the latest Snapshot) and are incremental: a
cinfo file whose (mtime, size) did not change is not read again, and the data file of an unchanged complete file
is not stat'ed again either (its blocks are all written, so its st_blocks cannot grow), so a rescan of an
unchanged cache costs one stat per complete file and two per partial one. Files vanish while we scan (purge):
that is normal, not an error.

To keep up with tar and find on a big cache (bench/cinfo_scan.py) the walk is split into units (directory
subtrees) handed to a pool of worker processes, one per core: parsing is Python, so threads would serialize.
What a scan learnt about each unit's files comes back as one compact State (a str of names, a bytes of packed
Records) that the next scan hands back with the unit; per-file Python objects would cost ~600 B each.
"""

from __future__ import annotations

import os
import struct
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple

from cachemgr.xcache import cinfo
from cachemgr.xcache.layout import QUARANTINE, SUFFIX
from cachemgr.xcache.walk import Pool, Unit, Walk, default_workers, read_at, split


class Record(NamedTuple):
    """One cinfo file as the last scan saw it; a bad file has flags BAD and zeros."""

    mtime_ns: int
    size: int
    disk: int  # bytes its data file uses on disk
    file_size: int
    flags: int  # COMPLETE, BAD
    accesses: int
    hit: int
    miss: int
    bypass: int
    last_access: int


# A Record packed, in its fields' order (hot paths pack and unpack by position: a Record object costs 1 us more).
REC = struct.Struct("<qqqqBQqqqq")
_MT = struct.Struct(REC.format[:3])  # the (mtime_ns, size) a packed Record starts with
FLAGS_AT = struct.calcsize(REC.format[: 1 + Record._fields.index("flags")])  # offset of flags in a packed Record
COMPLETE, BAD = 1, 2


@dataclass(slots=True)
class Totals:
    """Sums over the records of one namespace prefix."""

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

    def add(self, other: Totals) -> None:
        for name in _SUMMED:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.last_access = max(self.last_access, other.last_access)


_SUMMED = [f.name for f in fields(Totals) if f.name != "last_access"]


@dataclass(frozen=True)
class Snapshot:
    by_prefix: dict[str, Totals]
    finished: float  # Unix time
    duration: float
    parsed: int  # cinfo files read in this scan (the rest were unchanged)


class State(NamedTuple):
    names: str  # "\0"-joined cinfo paths relative to the unit
    recs: bytes  # one packed Record per name
    # prefix -> totals of the records. Disk bytes: the complete files' only; the partial files' are stat'ed afresh
    # each scan (xrootd writes blocks before it next syncs their cinfo): UnitResult.partial_disk.
    sums: dict[str, Totals]


class UnitResult(NamedTuple):
    state: State | None  # None: the same files, unchanged, as the State handed in
    sums: dict[str, Totals]  # the State's
    partial_disk: dict[str, int]  # prefix -> bytes the partial files' data use now
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


def _sum_records(names: list[str], recs: bytes, parts: tuple[str, ...], depth: int) -> dict[str, Totals]:
    sums: dict[str, Totals] = {}
    fixed = "/" + "/".join(parts[:depth]) if len(parts) >= depth else None
    for name, (_, _, disk, file_size, flags, accesses, hit, miss, bypass, last) in zip(
        names, REC.iter_unpack(recs), strict=True
    ):
        prefix = fixed or "/" + "/".join([*parts, *name.split("/")[:-1]][:depth])
        t = sums.get(prefix) or sums.setdefault(prefix, Totals())
        if flags & BAD:
            t.bad += 1
            continue
        t.files += 1
        if flags & COMPLETE:
            t.complete += 1
            t.disk_bytes += disk
        t.logical_bytes += file_size
        t.accesses += accesses
        t.hit += hit
        t.miss += miss
        t.bypass += bypass
        if last > t.last_access:
            t.last_access = last
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
    walk = Walk(unit)
    top = len(unit.parts)
    for d in walk:
        rel = "".join(f"{part}/" for part in d.parts[top:])  # the directory, relative to the unit
        prefix = "/" + "/".join(d.parts[:depth])
        used = 0
        for entry in d.files:
            name = entry.name
            if not name.endswith(SUFFIX):
                continue
            try:
                # Follows symlinks: multi-disk caches link cinfo files into the meta space.
                st = os.stat(name, dir_fd=d.fd)
                i = index.get(rel + name)
                if i is not None and _MT.unpack_from(old_recs, i * size) == (st.st_mtime_ns, st.st_size):
                    matched.append(i)
                    if not old_recs[i * size + FLAGS_AT] & COMPLETE:
                        used += _disk(name, d.fd)
                else:
                    disk_bytes = _disk(name, d.fd)
                    record = _record(st, read_at(name, d.fd, st.st_size), disk_bytes)
                    new_recs += record
                    new_names.append(rel + name)
                    if not record[FLAGS_AT] & COMPLETE:
                        used += disk_bytes
            except FileNotFoundError:
                continue
            except OSError:
                errors += 1
        disk[prefix] = disk.get(prefix, 0) + used
    errors += walk.errors
    if state is not None and not new_names and len(matched) == len(old_names):
        new_state, sums = None, state.sums  # the common rescan: nothing to rebuild
    else:
        view = memoryview(old_recs)
        names = [old_names[i] for i in matched] + new_names
        recs = b"".join([*(view[i * size : (i + 1) * size] for i in matched), new_recs])
        sums = _sum_records(names, recs, unit.parts, depth)
        new_state = State("\0".join(names), recs, sums)
    partial_disk = {p: used for p, used in disk.items() if used}
    return UnitResult(new_state, sums, partial_disk, len(new_names), errors)


@dataclass
class CacheScan:
    root: Path
    depth: int
    snapshot: Snapshot | None = None
    scans: int = 0
    errors: int = 0
    failure: Exception | None = None  # what broke the background thread's last scan (a bug, not the cache)
    workers: int = field(default_factory=default_workers)
    _states: dict[Unit, State] = field(default_factory=dict)
    _pool: Pool | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def scan(self) -> Snapshot:
        start = time.monotonic()
        units, errors = split(str(self.root), (), self.workers, skip=(QUARANTINE,))
        self.errors += errors
        states, self._states = self._states, {}  # units gone since the last scan drop out here
        # Biggest first (by what the last scan found), so the workers finish together.
        units.sort(key=lambda u: -len(states[u].recs) if u in states else 0)
        totals: dict[str, Totals] = {}
        parsed = 0
        for (unit, old), result in self._run(units, states):
            state = result.state or old
            if state is not None and state.names:
                self._states[unit] = state
            for prefix, t in result.sums.items():
                totals.setdefault(prefix, Totals()).add(t)
            for prefix, used in result.partial_disk.items():  # partial files: their prefix has records
                totals[prefix].disk_bytes += used
            parsed += result.parsed
            self.errors += result.errors
        self.scans += 1
        self.snapshot = Snapshot(totals, time.time(), time.monotonic() - start, parsed)
        return self.snapshot

    def _run(self, units: list[Unit], states: dict[Unit, State]) -> Iterator[tuple[tuple[Unit, State | None], Any]]:
        if self._pool is None:
            self._pool = Pool(self.workers)
        # A unit's old state leaves `states` only when its job is sent: a lazy generator.
        jobs = (((u, old), scan_unit, (u, self.depth, old)) for u in units for old in (states.pop(u, None),))
        return self._pool.run(jobs, serial=len(units) <= 1)

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def start(self, interval: float) -> None:
        """Scan every interval seconds in a background thread, until stop(): a scrape never waits for a scan."""
        self._thread = threading.Thread(target=self._loop, args=(interval,), name="cache-scan", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(10)

    def _log(self, failure: Exception | None) -> None:
        """Log a scan failure once, with its own traceback, and its end (not every failed scan again)."""
        before = self.failure
        if failure is not None and (before is None or repr(before) != repr(failure)):
            print("cachemgr exporter: cache scan failed:", file=sys.stderr)
            traceback.print_exception(failure, file=sys.stderr)
            sys.stderr.flush()
        elif failure is None and before is not None:
            print("cachemgr exporter: cache scan works again", file=sys.stderr, flush=True)

    def _loop(self, interval: float) -> None:
        try:
            while not self._stopping.is_set():
                failure = None
                try:
                    self.scan()
                except OSError:
                    self.errors += 1  # a worker died: counted with the unreadable files
                except Exception as e:  # the thread lives on to retry; the collector keeps the last snapshot
                    failure = e
                self._log(failure)
                self.failure = failure
                self._stopping.wait(interval)
        finally:
            self.close()
