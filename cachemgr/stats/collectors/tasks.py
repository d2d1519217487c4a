"""Scheduled tasks, from the scheduler's state file (read at scrape time; it is small).

A missing file means no task has run yet: nothing is exported. An unreadable or malformed one exports
cachemgr_task_state_valid 0 so an alert can tell.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily, Metric

FIELDS = {
    "last_success": ("cachemgr_task_last_success_timestamp_seconds", "When the task last succeeded."),
    "last_failure": ("cachemgr_task_last_failure_timestamp_seconds", "When the task last failed."),
    "last_start": ("cachemgr_task_last_start_timestamp_seconds", "When the task last started."),
    "last_duration": ("cachemgr_task_last_duration_seconds", "How long the task's last run took."),
    "consecutive_failures": ("cachemgr_task_consecutive_failures", "Failed runs since the last success."),
    "running": ("cachemgr_task_running", "1 while the task runs."),
}


class TasksCollector:
    def __init__(self, state_file: Path):
        self.state_file = state_file

    def collect(self) -> Iterator[Metric]:
        try:
            tasks = json.loads(self.state_file.read_text())["tasks"]
            rows = {
                str(name): {k: float(v) for k, v in entry.items() if k in FIELDS and v is not None}
                for name, entry in tasks.items()
            }
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            yield GaugeMetricFamily("cachemgr_task_state_valid", "1 when the scheduler's state file reads.", 0)
            return
        yield GaugeMetricFamily("cachemgr_task_state_valid", "1 when the scheduler's state file reads.", 1)
        for key, (name, doc) in FIELDS.items():
            family = GaugeMetricFamily(name, doc, labels=["task"])
            for task, row in sorted(rows.items()):
                if key in row:
                    family.add_metric([task], row[key])
            yield family
