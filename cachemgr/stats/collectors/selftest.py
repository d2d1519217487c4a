"""The self-test's latest results (written by `cachemgr selftest` to paths.run/selftest.json).

No file yet: no self-test has run, nothing is exported. One that does not read or parse fails the collector.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from prometheus_client.core import Metric

from cachemgr.stats.collectors import Collector, Family, read_json
from cachemgr.stats.settings import Settings

SUCCESS = Family(
    "cachemgr_selftest_success",
    "1 when the check passed (hit_xroot, hit_http, miss, miss_auth, disk); a skipped check is absent",
    ("check",),
)
DURATION = Family("cachemgr_selftest_duration_seconds", "Time the check took", ("check",))
WHEN = Family("cachemgr_selftest_timestamp_seconds", "When the self-test last ran")


class SelftestCollector(Collector):
    FAMILIES = (SUCCESS, DURATION, WHEN)

    def __init__(self, selftest_file: Path):
        self.selftest_file = selftest_file

    @classmethod
    def from_settings(cls, settings: Settings) -> SelftestCollector:
        return cls(settings.run.selftest)

    def collect(self) -> Iterator[Metric]:
        result = read_json(self.selftest_file)
        if result is None:
            return
        ok, took = SUCCESS(), DURATION()
        for name, check in sorted(result["checks"].items()):
            if check["ok"] is not None:
                ok.add_metric([name], 1 if check["ok"] else 0)
                took.add_metric([name], check["seconds"])
        yield from (ok, took, WHEN(result["time"]))
