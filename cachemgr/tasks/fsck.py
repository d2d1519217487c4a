"""Check the cache's files (cachemgr fsck); with fsck.repair, quarantine the bad ones.

Its results (findings by kind, when, how long) go to paths.run/fsck.json for the exporter; findings do not fail the
task (they have their own alert): it fails only when fsck cannot run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cachemgr.core.args import duration, size
from cachemgr.tasks.base import Option, TaskError, TaskSpec


def run(args: argparse.Namespace) -> str:
    # Imported here: every `cachemgr task` run imports all task modules, and the walk's imports cost ~0.2 s.
    from cachemgr.integrity.commands import run_fsck
    from cachemgr.integrity.target import TargetError, from_config
    from cachemgr.xcache.openfiles import OpenFilesUnknown

    try:
        target = from_config(args.config)
    except TargetError as e:
        raise TaskError(str(e)) from None
    args.prefix, args.state = "/", None  # the whole cache; paths.run/fsck.json
    lines: list[str] = []
    try:
        run_fsck(target, args, lines.append)
    except OpenFilesUnknown as e:
        raise TaskError(str(e)) from None
    return "\n".join(lines)


SPEC = TaskSpec(
    name="fsck",
    # Never at start in the site's cron/: a big cache takes minutes and would hold up the pod.
    start_order=50,
    doc=__doc__,
    run=run,
    options=(
        Option("--config", "paths.config", type=Path, help="the node's installed config"),
        Option("--repair", "fsck.repair", switch=True, help="quarantine bad files (not those xrootd has open)"),
        Option("--temp-age", "fsck.temp_age", type=duration),
        Option("--quarantine-max", "fsck.quarantine_max", type=size),
        Option("--quarantine-age", "fsck.quarantine_age", type=duration),
    ),
)
