"""Scheduled tasks, from the scheduler's state file (read at scrape time; it is small).

A missing file means no task has run yet: nothing is exported. One that does not read or parse fails the
collector (cachemgr_scrape_collector_success{collector="tasks"} 0).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from prometheus_client.core import Metric

from cachemgr.stats.collectors import Collector, Family, read_json
from cachemgr.stats.settings import Settings

BY_FIELD = {  # state file field -> family, by task
    "last_success": Family("cachemgr_task_last_success_timestamp_seconds", "When the task last succeeded.", ("task",)),
    "last_failure": Family("cachemgr_task_last_failure_timestamp_seconds", "When the task last failed.", ("task",)),
    "last_start": Family("cachemgr_task_last_start_timestamp_seconds", "When the task last started.", ("task",)),
    "last_duration": Family("cachemgr_task_last_duration_seconds", "How long the task's last run took.", ("task",)),
    "consecutive_failures": Family(
        "cachemgr_task_consecutive_failures", "Failed runs since the last success.", ("task",)
    ),
    "running": Family("cachemgr_task_running", "1 while the task runs.", ("task",)),
}


class TasksCollector(Collector):
    FAMILIES = tuple(BY_FIELD.values())

    def __init__(self, state_file: Path):
        self.state_file = state_file

    @classmethod
    def from_settings(cls, settings: Settings) -> TasksCollector:
        return cls(settings.run.tasks)

    def collect(self) -> Iterator[Metric]:
        state = read_json(self.state_file)
        if state is None:
            return
        rows = {
            str(name): {k: float(v) for k, v in entry.items() if k in BY_FIELD and v is not None}
            for name, entry in state["tasks"].items()
        }
        for key, family in BY_FIELD.items():
            metric = family()
            for task, row in sorted(rows.items()):
                if key in row:
                    metric.add_metric([task], row[key])
            yield metric
