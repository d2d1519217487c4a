"""The cachemgr crontab: standard 5-field cron schedules naming cachemgr tasks.

# minute hour dom month dow  task  [--delay D] [--timeout T] [--at-start]  [task options]
45 */6 * * *  fetch-crl --delay 30m --timeout 10m --at-start --ca-dir /etc/grid-security/certificates
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass
from pathlib import Path

from croniter import croniter

from cachemgr.tasks import TASKS
from cachemgr.tasks.base import duration
from cachemgr.values.load import Problem, ValuesError


@dataclass(frozen=True)
class CronEntry:
    line: int
    schedule: str
    task: str
    args: tuple[str, ...]
    delay: int  # seconds: a random start delay up to this spreads a fleet's load on CRL and LDAP servers
    timeout: int  # seconds
    at_start: bool


class _Quiet(argparse.ArgumentParser):
    def error(self, message: str):  # raise instead of printing usage and exiting
        raise ValueError(message)


def _scheduling_options() -> argparse.ArgumentParser:
    # No abbreviations: "--del 5" or a task's own option must never be taken for a scheduling option.
    p = _Quiet(add_help=False, allow_abbrev=False)
    p.add_argument("--delay", type=duration, default=0)
    p.add_argument("--timeout", type=duration, default=3600)
    p.add_argument("--at-start", action="store_true")
    return p


def task_parser(name: str) -> argparse.ArgumentParser:
    p = _Quiet(prog=f"cachemgr task {name}", add_help=False)
    TASKS[name].add_arguments(p)
    return p


def parse(text: str, source: str) -> list[CronEntry]:
    entries: list[CronEntry] = []
    problems: list[Problem] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = shlex.split(line, comments=True)
        schedule, rest = " ".join(fields[:5]), fields[5:]
        if len(fields) < 6 or not croniter.is_valid(schedule):
            problems.append(Problem(source, number, "schedule", f'"{schedule}" is not a 5-field cron schedule'))
            continue
        task = rest[0]
        if task not in TASKS:
            problems.append(Problem(source, number, "task", f'unknown task "{task}" (one of {", ".join(TASKS)})'))
            continue
        try:
            options, task_args = _scheduling_options().parse_known_args(rest[1:])
            task_parser(task).parse_args(task_args)
        except ValueError as e:
            problems.append(Problem(source, number, task, str(e)))
            continue
        entries.append(
            CronEntry(number, schedule, task, tuple(task_args), options.delay, options.timeout, options.at_start)
        )
    if problems:
        raise ValuesError(problems)
    return entries


def load(path: Path) -> list[CronEntry]:
    try:
        text = path.read_text()
    except OSError as e:
        raise ValuesError([Problem(str(path), 0, "crontab", f"cannot read: {e.strerror}")]) from None
    return parse(text, str(path))
