"""Scheduled tasks: each is safe to repeat, atomic, verified, and fails with a one-line reason.

Every task module declares SPEC (tasks/base.py TaskSpec): its options (defaults from the parameter
table, so a task runs stand-alone; the rendered crontab passes the node's values), whether it needs the
host certificate, and `run(args) -> str` (what it did), which raises TaskError when it must not change
anything. On failure, installed files stay byte-identical. Schedules are the site's, in cron/.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from cachemgr.tasks import fetch_crl, fix_certs, fsck, gridmap, refresh_proxy
from cachemgr.tasks.base import TaskSpec

if TYPE_CHECKING:
    from cachemgr.scheduler.crontab import CronEntry

# In start-up order (the crontab's too): fix-certs first, since without the host cert what needs it is skipped;
# fsck never runs at start (a big cache takes minutes: it would hold up the pod).
TASKS: dict[str, TaskSpec] = {m.SPEC.name: m.SPEC for m in (fix_certs, fetch_crl, refresh_proxy, gridmap, fsck)}


def start_rank(name: str) -> int:
    """Where a task comes in the start-up order (a sort key): a site's own tasks (cron/) after cachemgr's."""
    return list(TASKS).index(name) if name in TASKS else len(TASKS)


def at_start(entries: Iterable[CronEntry]) -> list[CronEntry]:
    """A crontab's --at-start entries, in start-up order: what supervise (and the sandbox) run first."""
    return sorted((e for e in entries if e.at_start), key=lambda e: start_rank(e.task))
