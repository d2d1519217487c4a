"""The scheduler under a virtual clock: real task processes, minutes passing in a fraction of a second."""

from __future__ import annotations

import datetime as dt
import json
import threading

from cachemgr.scheduler import crontab
from cachemgr.scheduler.runner import Scheduler
from cachemgr.scheduler.state import TaskStates

START = dt.datetime(2026, 1, 5, 12, 0, 30).astimezone().timestamp()


class VirtualClock:
    """Jumps to the next wake-up at once, then gives real processes `real` seconds to run."""

    def __init__(self, start: float, real: float):
        self.now = start
        self.real = real

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float, stop: threading.Event) -> None:
        self.now += max(seconds, 0)
        stop.wait(self.real)


def run(text: str, tmp_path, minutes: int, real: float):
    entries = crontab.parse(text, "test.crontab")
    state = TaskStates(tmp_path / "tasks.json")
    lines: list[str] = []
    Scheduler(entries, state, VirtualClock(START, real), log=lines.append).run(until=START + minutes * 60)
    return json.loads((tmp_path / "tasks.json").read_text())["tasks"], lines
