"""Each task's last start, success, failure, duration and consecutive failures, kept across restarts.

The file is what the exporter publishes (cachemgr_task_*): {"tasks": {name: {last_start, last_success,
last_failure, last_duration, consecutive_failures, last_error, running}}}, timestamps in Unix seconds.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from cachemgr.core import files

EMPTY = {
    "last_start": None,
    "last_success": None,
    "last_failure": None,
    "last_duration": None,
    "consecutive_failures": 0,
    "last_error": None,
    "running": False,
}


class TaskStates:
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        try:
            self.tasks: dict[str, dict[str, Any]] = json.loads(path.read_text())["tasks"]
        except (OSError, ValueError, KeyError, TypeError):
            self.tasks = {}
        for task in self.tasks.values():
            task["running"] = False  # a run cut short by a restart is not running any more

    def started(self, task: str, at: float) -> None:
        with self._lock:
            entry = self.tasks.setdefault(task, dict(EMPTY))
            entry.update(last_start=at, running=True)
            self._save()

    def finished(self, task: str, at: float, ok: bool, error: str | None) -> None:
        with self._lock:
            entry = self.tasks.setdefault(task, dict(EMPTY))
            entry.update(running=False, last_duration=at - (entry["last_start"] or at))
            if ok:
                entry.update(last_success=at, consecutive_failures=0, last_error=None)
            else:
                entry.update(last_failure=at, consecutive_failures=entry["consecutive_failures"] + 1, last_error=error)
            self._save()

    def _save(self) -> None:
        files.install_json(self.path, {"tasks": self.tasks})
