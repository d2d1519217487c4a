"""Scheduled tasks: each is safe to repeat, atomic, verified, and fails with a one-line reason.

Every module of this package but base.py is one task and declares SPEC (tasks/base.py TaskSpec): its name, its
place in the start-up order, its options (defaults from the parameter table, so a task runs stand-alone; the
rendered crontab passes the node's values), whether it needs the host certificate, and `run(args) -> str` (what it
did), which raises TaskError when it must not change anything. On failure, installed files stay byte-identical.
TASKS finds them here: a new task is its module plus its line in the site's cron/.
"""

from __future__ import annotations

import importlib
import pkgutil

from cachemgr.tasks.base import TaskSpec


def _discover() -> dict[str, TaskSpec]:
    specs = []
    for module in pkgutil.iter_modules(__path__):
        if module.name != "base":
            specs.append(importlib.import_module(f"{__name__}.{module.name}").SPEC)
    specs.sort(key=lambda spec: (spec.start_order, spec.name))
    return {spec.name: spec for spec in specs}


# In start-up order (the crontab's too).
TASKS: dict[str, TaskSpec] = _discover()


def start_rank(name: str) -> int:
    """Where a task comes in the start-up order (a sort key): a site's own tasks (cron/) after cachemgr's."""
    return list(TASKS).index(name) if name in TASKS else len(TASKS)
