"""The latest `cachemgr fsck` of the node's cache (its scheduled task writes paths.run/fsck.json).

No file yet: fsck has not run, nothing is exported. One that does not read or parse fails the collector.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from prometheus_client.core import Metric

from cachemgr.stats.collectors import Collector, Family, read_json
from cachemgr.stats.settings import Settings

FINDINGS = Family(
    "cachemgr_fsck_findings",
    "Cached files with a finding of this kind in the latest fsck (cinfo_bad, no_cinfo, no_data, size_mismatch, "
    "blocks_beyond_end, stale_temp, foreign_owner, orphan)",
    ("kind",),
)
BY_FIELD = {  # state file field -> family
    "time": Family("cachemgr_fsck_timestamp_seconds", "When the latest fsck finished"),
    "duration": Family("cachemgr_fsck_duration_seconds", "How long the latest fsck took"),
    "files": Family("cachemgr_fsck_files", "Cached files the latest fsck checked"),
    "errors": Family("cachemgr_fsck_unreadable", "Directories or files the latest fsck could not read"),
    "repaired": Family("cachemgr_fsck_repaired", "Bad files the latest fsck moved into quarantine"),
    "skipped": Family("cachemgr_fsck_skipped", "Bad files the latest fsck left in place: xrootd had them open"),
}


class FsckCollector(Collector):
    FAMILIES = (FINDINGS, *BY_FIELD.values())

    def __init__(self, state_file: Path):
        self.state_file = state_file

    @classmethod
    def from_settings(cls, settings: Settings) -> FsckCollector:
        return cls(settings.run.fsck)

    def collect(self) -> Iterator[Metric]:
        state = read_json(self.state_file)
        if state is None:
            return
        findings = FINDINGS()
        for kind, n in sorted(state["findings"].items()):
            findings.add_metric([kind], float(n))
        yield findings
        for key, family in BY_FIELD.items():
            yield family(float(state[key]))
