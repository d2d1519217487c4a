"""What is on the cache disks, by namespace prefix: the latest snapshot of the cache scan (stats/scan.py)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric

from cachemgr.stats.collectors import Collector, Family
from cachemgr.stats.scan import CacheScan
from cachemgr.stats.settings import Settings

SCANS = Family("cachemgr_cache_scans", "Completed scans of the cache namespace.", kind=CounterMetricFamily)
ERRORS = Family("cachemgr_cache_scan_errors", "Directories or files the scan could not read.", kind=CounterMetricFamily)
DURATION = Family("cachemgr_cache_scan_duration_seconds", "How long the last scan took.")
FINISHED = Family("cachemgr_cache_scan_timestamp_seconds", "When the last scan finished.")
PARSED = Family("cachemgr_cache_scan_parsed_files", "cinfo files the last scan had to read (new or changed).")
BY_PATH = {  # Totals field -> family, by namespace prefix
    "files": Family("cachemgr_cache_files", "Cached files (with a valid cinfo file).", ("path",)),
    "complete": Family("cachemgr_cache_complete_files", "Cached files with every block on disk.", ("path",)),
    "disk_bytes": Family("cachemgr_cache_disk_bytes", "Bytes cached files use on disk (st_blocks * 512).", ("path",)),
    "logical_bytes": Family("cachemgr_cache_logical_bytes", "Sum of the cached files' full sizes.", ("path",)),
    "accesses": Family("cachemgr_cache_accesses", "Sum of the cached files' access counts.", ("path",)),
    "last_access": Family("cachemgr_cache_last_access_timestamp_seconds", "Latest access to a cached file.", ("path",)),
    "bad": Family("cachemgr_cache_bad_cinfo_files", "cinfo files XRootD itself would refuse.", ("path",)),
}
READ = Family(
    "cachemgr_cache_read_bytes",
    "Bytes read from cached files as their cinfo access records tell (hit: from disk, miss: fetched, "
    "bypass: not cached); drops when files are purged.",
    ("path", "type"),
)


class CacheScanCollector(Collector):
    FAMILIES = (SCANS, ERRORS, DURATION, FINISHED, PARSED, *BY_PATH.values(), READ)

    def __init__(self, scan: CacheScan):
        self.scan = scan

    @classmethod
    def from_settings(cls, settings: Settings) -> CacheScanCollector:
        scan = CacheScan(settings.cache_root, settings.scan_depth)
        scan.start(settings.scan_interval)
        return cls(scan)

    def close(self) -> None:
        self.scan.stop()

    def collect(self) -> Iterator[Metric]:
        scan = self.scan
        # A failed scan (scan.failure, logged by the scan loop) keeps the last snapshot and the counters served:
        # the CacheScanStale and CacheScanErrors alerts need them.
        yield SCANS(scan.scans)
        yield ERRORS(scan.errors)
        snap = scan.snapshot
        if snap is None:
            return
        yield DURATION(snap.duration)
        yield FINISHED(snap.finished)
        yield PARSED(snap.parsed)
        rows = sorted(snap.by_prefix.items())
        for attr, family in BY_PATH.items():
            metric = family()
            for path, t in rows:
                metric.add_metric([path], getattr(t, attr))
            yield metric
        read = READ()
        for path, t in rows:
            for kind, value in (("hit", t.hit), ("miss", t.miss), ("bypass", t.bypass)):
                read.add_metric([path, kind], value)
        yield read
