"""What is on the cache disks, from the .cinfo files under the namespace root, by namespace prefix.

Scans run in a background thread and are incremental: a cinfo file whose (mtime, size) did not change is
not read again, so a rescan of an unchanged cache costs two stats per file. Files vanish while we scan
(purge): that is normal, not an error.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from cachemgr.stats import cinfo

SUFFIX = ".cinfo"


class Parsed(NamedTuple):
    """The part of a cinfo file the metrics need (kept per file between scans)."""

    file_size: int
    complete: bool
    accesses: int
    hit: int
    miss: int
    bypass: int
    last_access: int


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

    def add(self, p: Parsed, disk_bytes: int) -> None:
        self.files += 1
        self.complete += p.complete
        self.disk_bytes += disk_bytes
        self.logical_bytes += p.file_size
        self.accesses += p.accesses
        self.hit += p.hit
        self.miss += p.miss
        self.bypass += p.bypass
        self.last_access = max(self.last_access, p.last_access)


@dataclass(frozen=True)
class Snapshot:
    by_prefix: dict[str, Totals]
    finished: float  # Unix time
    duration: float
    parsed: int  # cinfo files read in this scan (the rest were unchanged)


def summarize(info: cinfo.Cinfo) -> Parsed:
    return Parsed(
        info.file_size,
        info.complete,
        info.access_count,
        info.bytes_hit,
        info.bytes_missed,
        info.bytes_bypassed,
        info.last_access,
    )


@dataclass
class CacheScan:
    root: Path
    depth: int
    snapshot: Snapshot | None = None
    scans: int = 0
    errors: int = 0
    # cinfo path -> (mtime_ns, size, summary or None when bad)
    _known: dict[str, tuple[int, int, Parsed | None]] = field(default_factory=dict)

    def scan(self) -> Snapshot:
        start = time.monotonic()
        seen: dict[str, tuple[int, int, Parsed | None]] = {}
        totals: dict[str, Totals] = {}
        parsed = self._walk(str(self.root), (), seen, totals)
        self._known = seen  # files gone since the last scan drop out here
        self.scans += 1
        self.snapshot = Snapshot(totals, time.time(), time.monotonic() - start, parsed)
        return self.snapshot

    def _walk(
        self,
        directory: str,
        parts: tuple[str, ...],
        seen: dict[str, tuple[int, int, Parsed | None]],
        totals: dict[str, Totals],
    ) -> int:
        parsed = 0
        try:
            entries = list(os.scandir(directory))
        except FileNotFoundError:
            return 0
        except OSError:
            self.errors += 1
            return 0
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    sub = (*parts, entry.name) if len(parts) < self.depth else parts
                    parsed += self._walk(entry.path, sub, seen, totals)
                elif entry.name.endswith(SUFFIX):
                    parsed += self._file(entry, "/" + "/".join(parts), seen, totals)
            except FileNotFoundError:
                continue
            except OSError:
                self.errors += 1
        return parsed

    def _file(
        self,
        entry: os.DirEntry,
        prefix: str,
        seen: dict[str, tuple[int, int, Parsed | None]],
        totals: dict[str, Totals],
    ) -> int:
        """Account one cinfo file; returns 1 when it had to be read."""
        st = entry.stat()  # follows symlinks: multi-disk caches link cinfo files into the meta space
        known = self._known.get(entry.path)
        read = 0
        if known is not None and known[:2] == (st.st_mtime_ns, st.st_size):
            summary = known[2]
        else:
            read = 1
            try:
                summary = summarize(cinfo.read(entry.path))
            except cinfo.CinfoError:
                summary = None
        try:
            disk = os.stat(entry.path[: -len(SUFFIX)]).st_blocks * 512
        except FileNotFoundError:
            disk = 0  # purge removes the data file first
        seen[entry.path] = (st.st_mtime_ns, st.st_size, summary)
        t = totals.setdefault(prefix, Totals())
        if summary is None:
            t.bad += 1
        else:
            t.add(summary, disk)
        return read

    def run(self, interval: float, stop: threading.Event) -> None:
        """Scan every interval seconds until stop is set (the exporter's background thread)."""
        while not stop.is_set():
            try:
                self.scan()
            except OSError:
                self.errors += 1
            stop.wait(interval)


class CacheScanCollector:
    def __init__(self, scan: CacheScan):
        self.scan = scan

    def describe(self) -> list[Metric]:
        return []

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
        gauges = {
            "files": ("cachemgr_cache_files", "Cached files (with a valid cinfo file)."),
            "complete": ("cachemgr_cache_complete_files", "Cached files with every block on disk."),
            "disk_bytes": ("cachemgr_cache_disk_bytes", "Bytes cached files use on disk (st_blocks * 512)."),
            "logical_bytes": ("cachemgr_cache_logical_bytes", "Sum of the cached files' full sizes."),
            "accesses": ("cachemgr_cache_accesses", "Sum of the cached files' access counts."),
            "last_access": ("cachemgr_cache_last_access_timestamp_seconds", "Latest access to a cached file."),
            "bad": ("cachemgr_cache_bad_cinfo_files", "cinfo files XRootD itself would refuse."),
        }
        for attr, (name, doc) in gauges.items():
            family = GaugeMetricFamily(name, doc, labels=["path"])
            for path, t in sorted(snap.by_prefix.items()):
                family.add_metric([path], getattr(t, attr))
            yield family
        family = GaugeMetricFamily(
            "cachemgr_cache_read_bytes",
            "Bytes read from cached files as their cinfo access records tell (hit: from disk, miss: fetched, "
            "bypass: not cached); drops when files are purged.",
            labels=["path", "type"],
        )
        for path, t in sorted(snap.by_prefix.items()):
            for kind, value in (("hit", t.hit), ("miss", t.miss), ("bypass", t.bypass)):
                family.add_metric([path, kind], value)
        yield family
