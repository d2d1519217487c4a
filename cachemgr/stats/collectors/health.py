"""The self-test's latest results (written by `cachemgr selftest` to paths.run/selftest.json)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily, Metric


class HealthCollector:
    def __init__(self, selftest_file: Path):
        self.selftest_file = selftest_file

    def collect(self) -> Iterator[Metric]:
        try:
            result = json.loads(self.selftest_file.read_text())
        except (OSError, ValueError):
            return  # no self-test has run yet
        ok = GaugeMetricFamily(
            "cachemgr_selftest_success",
            "1 when the check passed (hit_xroot, hit_http, miss, miss_auth, disk); a skipped check is absent",
            labels=["check"],
        )
        took = GaugeMetricFamily("cachemgr_selftest_duration_seconds", "Time the check took", labels=["check"])
        for name, check in sorted(result["checks"].items()):
            if check["ok"] is not None:
                ok.add_metric([name], 1 if check["ok"] else 0)
                took.add_metric([name], check["seconds"])
        when = GaugeMetricFamily("cachemgr_selftest_timestamp_seconds", "When the self-test last ran")
        when.add_metric([], result["time"])
        yield from (ok, took, when)
