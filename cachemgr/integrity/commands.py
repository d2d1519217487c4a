"""`cachemgr fsck` and `cachemgr evict`: their output lines and exit codes; fsck's state file (flags: target.py)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

from cachemgr.core import files
from cachemgr.integrity import fsck as checks
from cachemgr.integrity.target import Target, TargetError, from_args
from cachemgr.xcache.layout import cached_files, normalize
from cachemgr.xcache.openfiles import OpenFilesUnknown
from cachemgr.xcache.remove import Outcome, Remover, prune


def _usage(command: str, e: Exception) -> int:
    print(f"cachemgr {command}: {e}", file=sys.stderr)
    return 2


def run_fsck(target: Target, args: argparse.Namespace, say: Callable[[str], object] = print) -> checks.Report:
    """Check (and with args.repair repair) target; say a line per finding and outcome, write the state file."""
    report = checks.check(target, args.prefix, args.temp_age)
    for f in report.findings:
        say(checks.line(target, f))
    if args.repair and report.findings:
        prune(target, args.quarantine_max, args.quarantine_age)
        checks.repair(target, report)
        for out in report.outcomes:
            say(outcome_line("quarantined", out))
    counts = report.counts()
    kinds = ", ".join(f"{k} {counts[k]}" for k in checks.FINDINGS if counts[k])
    skipped = sum(1 for o in report.outcomes if o.skipped)
    say(
        f"fsck: {report.files} cached files under {args.prefix} in {len(target.roots)} root(s), "
        f"{len(report.findings)} finding(s){f' ({kinds})' if kinds else ''}, {report.errors} unreadable, "
        + (f"{len(report.outcomes) - skipped} repaired, {skipped} skipped, " if args.repair else "")
        + f"{report.duration:.1f} s"
    )
    state = args.state or (target.run.fsck if target.run else None)
    if state is not None:
        files.install_json(
            state,
            {
                "time": time.time(),
                "duration": report.duration,
                "files": report.files,
                "errors": report.errors,
                "findings": {k: counts[k] for k in checks.FINDINGS},
                "repaired": len(report.outcomes) - skipped,
                "skipped": skipped,
            },
        )
    return report


def fsck(args: argparse.Namespace) -> int:
    try:
        target = from_args(args)
        args.prefix = normalize(args.prefix)
    except (TargetError, ValueError) as e:
        return _usage("fsck", e)
    try:
        report = run_fsck(target, args)
    except OpenFilesUnknown as e:
        return _usage("fsck", e)
    return 1 if report.findings else 0


def evict(args: argparse.Namespace) -> int:
    try:
        target = from_args(args)
        prefix = normalize(args.path)
    except (TargetError, ValueError) as e:
        return _usage("evict", e)
    remover = Remover(target, quarantine=False, dry_run=args.dry_run)
    done: list[Outcome] = []
    try:
        for outcome in remover.remove(cached_files(target, prefix)):
            done.append(outcome)
            print(outcome_line("would evict" if args.dry_run else "evicted", outcome))
    except OpenFilesUnknown as e:
        return _usage("evict", e)
    freed = [o for o in done if not o.skipped]
    verb = "would free" if args.dry_run else "freed"
    print(
        f"evict: {verb} {sum(o.files for o in freed)} files, {sum(o.bytes for o in freed)} B "
        f"({len(freed)} cached files under {prefix}); {len(done) - len(freed)} skipped"
    )
    return 1 if len(freed) < len(done) else 0


def outcome_line(verb: str, o: Outcome) -> str:
    where = f"{o.file.root}:{o.file.path}"
    if o.skipped:
        return f"skipped {where}: {o.skipped}"
    return f"{verb} {where} ({o.files} files, {o.bytes} B)"
