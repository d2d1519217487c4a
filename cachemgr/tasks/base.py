"""What every task shares: its error type, and the spec each task module declares (TaskSpec).

A task's spec is the one place that says what it takes (when it runs is the site's cron/); from it derive
the `cachemgr task NAME` options (defaults from the parameter table), its options in the rendered crontab
(the node's values), and what `cachemgr supervise` does at start (order, host certificate).
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cachemgr.core.args import default, duration
from cachemgr.core.params import BY_NAME

if TYPE_CHECKING:
    from cachemgr.values.resolve import NodeValues


class TaskError(Exception):
    """The task refused or failed; nothing it manages was changed."""


def always(v: NodeValues) -> bool:
    return True


def auth_enabled(v: NodeValues) -> bool:
    return v["auth.enabled"]


@dataclass(frozen=True)
class Option:
    """One option of a task: `cachemgr task NAME FLAG`, and what the crontab passes for it.

    param: the parameter it comes from: its default is the option's default, the node's value goes into
        the crontab. value: instead, a function of the node's values for one derived from several (None:
        left out). An option with neither is the task's own (a tuning knob, --force): never in the crontab.
    when: whether the crontab passes it on this node; an empty value (None, "") is never passed.
    """

    flag: str
    param: str | None = None
    value: Callable[[NodeValues], Any] | None = None
    when: Callable[[NodeValues], bool] = always
    type: Callable[[str], Any] = str
    help: str | None = None
    switch: bool = False  # a flag without a value (store_true); with a param, passed when the node's value is true

    def __post_init__(self) -> None:
        if self.param is not None and self.param not in BY_NAME:
            raise ValueError(f"{self.flag}: no parameter {self.param}")
        if self.param is not None and self.value is not None:
            raise ValueError(f"{self.flag}: a parameter gives both its default and its value")

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        if self.switch:
            parser.add_argument(self.flag, action="store_true", help=self.help)  # default off: cron passes it
            return
        start = default(self.param) if self.param is not None else None
        parser.add_argument(self.flag, type=self.type, default=start, help=self.help)

    def crontab_args(self, v: NodeValues) -> list[str]:
        """The option as the node's crontab line passes it: [flag, shell-quoted value], or nothing."""
        if not self.when(v):
            return []
        if self.param is not None:
            value = v[self.param]
        elif self.value is not None:
            value = self.value(v)
        else:
            return []
        if value is None or value == "":
            return []
        if self.switch:
            return [self.flag] if value else []
        # The values hold durations in seconds; the suffix keeps the line readable as what it is.
        text = f"{value}s" if self.type is duration else shlex.quote(str(value))
        return [self.flag, text]


@dataclass(frozen=True)
class CrontabLine:
    """One task's line in a node's crontab; the template lays it out."""

    schedule: str
    task: str
    args: list[str]  # scheduling options, then the task's, each shell-quoted


@dataclass(frozen=True)
class TaskSpec:
    """A scheduled task, declared once in its module.

    doc: the module's docstring (its first line is the CLI help). run(args) -> what it did; raises
    TaskError. when: whether the node's crontab has the task (its schedule is the site's, in cron/).
    needs_host_cert: `cachemgr supervise` skips it at start when the node has no usable host certificate;
    installs_host_cert: its failing at start means there is none (later tasks that need it are skipped and the
    authenticated instance is left out). start_order: where it comes in start-up order (and in the crontab), lowest
    first; equal ones by name.
    """

    name: str
    doc: str
    run: Callable[[argparse.Namespace], str]
    options: tuple[Option, ...]
    start_order: int
    when: Callable[[NodeValues], bool] = always
    needs_host_cert: bool = False
    installs_host_cert: bool = False

    def __post_init__(self) -> None:
        if self.installs_host_cert and not self.needs_host_cert:
            raise ValueError(f"{self.name}: installing the host certificate needs it")

    @property
    def summary(self) -> str:
        return self.doc.split("\n")[0]

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        for option in self.options:
            option.add_to(parser)

    def crontab_line(self, v: NodeValues, schedule: str, scheduling: list[str]) -> CrontabLine:
        """The task's line: the site's schedule and scheduling options (cron/), then the node's values."""
        args = scheduling + [text for option in self.options for text in option.crontab_args(v)]
        return CrontabLine(schedule, self.name, args)
