"""The cachemgr crontab: standard 5-field cron schedules naming cachemgr tasks or a site's own executables.

# minute hour dom month dow  task  [--delay D] [--timeout T] [--at-start]  [task options]
45 */6 * * *  fetch-crl --delay 30m --timeout 10m --at-start --ca-dir /etc/grid-security/certificates
*/10 * * * *  site:/usr/local/bin/cleanup --timeout 2m -- --dry-run

--delay, --timeout and --at-start are the scheduler's wherever they are, except after `--`.

The same syntax, without task options for cachemgr's tasks, is the site's cron/ (scheduler/schedules.py).
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from croniter import croniter

from cachemgr.core.args import duration
from cachemgr.tasks import TASKS, start_rank
from cachemgr.values.load import Problem, ValuesError

SITE = "site:"  # a site's own task: site:/absolute/path/of/an/executable in the image


def is_site_task(task: str) -> bool:
    return task.startswith(SITE)


@dataclass(frozen=True)
class CronEntry:
    source: str  # the file, as problems name it
    line: int
    schedule: str
    task: str
    args: tuple[str, ...]  # the task's options, or a site executable's arguments
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


def valid_schedule(schedule: str) -> bool:
    return len(schedule.split()) == 5 and croniter.is_valid(schedule)


def _entry(fields: list[str], source: str, number: int, task_options: bool) -> CronEntry:
    """One line's fields as an entry; ValueError (key, reason) when it is bad."""
    schedule, rest = " ".join(fields[:5]), fields[5:]
    if not rest or not valid_schedule(schedule):
        raise ValueError("schedule", f'"{schedule}" is not a 5-field cron schedule')
    task = rest[0]
    if is_site_task(task):
        if not task.removeprefix(SITE).startswith("/"):
            # Whether the executable is in the image only the pod can tell: a missing one fails its runs.
            raise ValueError("task", f'"{task}": a site task names an absolute path (site:/usr/local/bin/...)')
    elif task not in TASKS:
        raise ValueError("task", f'unknown task "{task}" (one of {", ".join(TASKS)}, or site:/path/to/executable)')
    try:
        options, args = _scheduling_options().parse_known_args(rest[1:])
        if is_site_task(task):
            if "--" in args:  # after it, the executable's own --timeout and the like
                args.remove("--")
        elif args and not task_options:
            raise ValueError(f"unknown option {args[0]}: the task's options come from the node's values")
        else:
            task_parser(task).parse_args(args)
    except ValueError as e:
        raise ValueError(task, str(e)) from None
    return CronEntry(source, number, schedule, task, tuple(args), options.delay, options.timeout, options.at_start)


def parse(text: str, source: str, task_options: bool = True) -> list[CronEntry]:
    """A crontab's entries; task_options=False (cron/) refuses a cachemgr task's own options."""
    entries: list[CronEntry] = []
    problems: list[Problem] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            entries.append(_entry(shlex.split(line, comments=True), source, number, task_options))
        except ValueError as e:
            problems.append(Problem(source, number, *e.args))
    problems += repeated(entries)
    if problems:
        raise ValuesError(problems)
    return entries


def repeated(entries: list[CronEntry]) -> list[Problem]:
    """A task named twice: its runs would share one no-overlap slot and one state entry."""
    first: dict[str, CronEntry] = {}
    problems = []
    for e in entries:
        if e.task in first:
            was = first[e.task]
            problems.append(Problem(e.source, e.line, e.task, f"already scheduled at {was.source}:{was.line}"))
        first.setdefault(e.task, e)
    return problems


def at_start(entries: Iterable[CronEntry]) -> list[CronEntry]:
    """A crontab's --at-start entries, in start-up order: what supervise (and the sandbox) run first."""
    return sorted((e for e in entries if e.at_start), key=lambda e: start_rank(e.task))


def load(path: Path) -> list[CronEntry]:
    try:
        text = path.read_text()
    except OSError as e:
        raise ValuesError([Problem(str(path), 0, "crontab", f"cannot read: {e.strerror}")]) from None
    return parse(text, str(path))
