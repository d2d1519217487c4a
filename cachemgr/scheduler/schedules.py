"""The site's task schedules: cron/*.cron, crontab lines without cachemgr tasks' options (those come from
each node's values), and a node's own schedule for a task (tasks.schedule); together, the node's crontab."""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from cachemgr.core.units import format_duration
from cachemgr.scheduler import crontab
from cachemgr.scheduler.crontab import CronEntry
from cachemgr.tasks import TASKS
from cachemgr.tasks.base import CrontabLine
from cachemgr.values.load import Problem, ValuesError, dotted, shown_path

if TYPE_CHECKING:
    from cachemgr.values.resolve import NodeValues


def default_dir(values_dir: Path) -> Path:
    """cron/ beside the values dir: the repository's top level for --values k8s."""
    return values_dir.resolve().parent / "cron"


def load_dir(path: Path) -> list[CronEntry]:
    """Every *.cron file's entries, files in name order; ValuesError naming cron/FILE:LINE."""
    files = sorted(path.glob("*.cron"))
    if not files:
        raise ValuesError([Problem(shown_path(path), 0, "cron", "no *.cron files (the site's task schedules)")])
    entries: list[CronEntry] = []
    problems: list[Problem] = []
    for file in files:
        try:
            entries += crontab.parse(file.read_text(), shown_path(file), task_options=False)
        except ValuesError as e:
            problems += e.problems
        except OSError as e:
            problems.append(Problem(shown_path(file), 0, "cron", f"cannot read: {e.strerror}"))
    problems += crontab.repeated(entries)  # across files (ValuesError drops a file's own, reported twice)
    if problems:
        raise ValuesError(problems)
    return entries


def for_node(entries: list[CronEntry], v: NodeValues) -> tuple[CronEntry, ...]:
    """The site's entries with the node's own schedules (tasks.schedule: {task: "5 fields"})."""
    own = v["tasks.schedule"]
    problems = []
    for task, schedule in own.items():
        file, line = v.where("tasks.schedule", (task,))
        key = dotted("tasks.schedule", (task,))
        if task not in {e.task for e in entries}:
            problems.append(Problem(file, line, key, "not a task in cron/ (schedule it there first)"))
        elif not isinstance(schedule, str) or not crontab.valid_schedule(schedule):
            problems.append(Problem(file, line, key, f'"{schedule}" is not a 5-field cron schedule'))
    if problems:
        raise ValuesError(problems)
    return tuple(dataclasses.replace(e, schedule=own.get(e.task, e.schedule)) for e in entries)


def _scheduling(e: CronEntry) -> list[str]:
    delay = ["--delay", format_duration(e.delay)] if e.delay else []
    return [*delay, "--timeout", format_duration(e.timeout), *(["--at-start"] if e.at_start else [])]


def crontab_lines(v: NodeValues) -> list[CrontabLine]:
    """The node's crontab, in cron/'s order: cachemgr tasks the node has, with its values; site tasks as written."""
    lines = []
    for e in v.schedules:
        if crontab.is_site_task(e.task):
            own = ["--", *map(shlex.quote, e.args)] if e.args else []  # `--`: its own --timeout stays its own
            lines.append(CrontabLine(e.schedule, e.task, _scheduling(e) + own))
        elif TASKS[e.task].when(v):
            lines.append(TASKS[e.task].crontab_line(v, e.schedule, _scheduling(e)))
    return lines
