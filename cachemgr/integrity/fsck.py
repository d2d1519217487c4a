"""`cachemgr fsck`: check every cached file's data and .cinfo against each other, the owner and the disks.

The namespace roots are walked in units by the exporter's worker pool (xcache/walk.py: split, Walk, Pool), so a clean
fsck costs about what the exporter's full scan does: per pair one stat of each name (through the links of a
multi-disk node), one read of the cinfo and its checksums. A multi-disk node's data and meta disks are then
listed for files no namespace link points to. Findings are one line each; --repair moves each bad file (its pair)
into quarantine on its own disk (remove.py), skipping files xrootd has open.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from cachemgr.integrity.target import Target
from cachemgr.xcache import cinfo
from cachemgr.xcache.layout import SUFFIX, TEMP_SUFFIXES, CachedFile, normalize
from cachemgr.xcache.remove import Outcome, Remover
from cachemgr.xcache.walk import Pool, Unit, Walk, default_workers, read_at, split

# Every kind of finding, in report order: what it means.
FINDINGS = {
    "cinfo_bad": ".cinfo unreadable or failing its checksum",
    "no_cinfo": "data file without .cinfo",
    "no_data": ".cinfo without data file",
    "size_mismatch": "data file larger than the .cinfo's file size",
    "blocks_beyond_end": "blocks marked present beyond the data file's end",
    "stale_temp": "stale temporary file",
    "foreign_owner": "owned by another user than the cache's",
    "orphan": "file on a data or meta disk that no namespace link points to",
}
# Kinds found on a disk rather than at a namespace path: the path is the file's own.
STRAY = ("stale_temp", "orphan")
# Seconds between the walk and the second look at what it found: a file xrootd was creating, linking or purging
# as the walk passed settles within it (its pair is made, or both names are gone).
SECOND_LOOK = 2.0


class Finding(NamedTuple):
    kind: str
    root: int  # index in Target.roots; -1 for a disk's own file
    path: str  # namespace path (of the data file) or, for STRAY kinds, the file's absolute path
    detail: str


class UnitReport(NamedTuple):
    files: int  # cached files (namespace paths) checked
    findings: list[Finding]
    links: list[str]  # targets of the namespace links (only when asked: the disks are checked against them)
    errors: int  # directories or files that could not be read


@dataclass(frozen=True)
class Checks:
    uid: int | None
    temp_age: float
    now: float
    links: bool  # collect link targets
    reserved: tuple[str, ...]  # names at the top of a root that are not cache files


def check_unit(unit: Unit, root: int, only: frozenset[str] | None, checks: Checks) -> UnitReport:
    """Check one unit (in a worker): every pair of its directories (only: these names in a non-recursive unit)."""
    findings: list[Finding] = []
    links: list[str] = []
    files = errors = 0
    walk = Walk(unit, skip=checks.reserved)
    for d in walk:
        ns = "/" + "/".join(d.parts) if d.parts else ""
        try:
            names = set()
            for e in d.files:
                names.add(e.name)
                if checks.links and e.is_symlink():
                    links.append(os.readlink(e.name, dir_fd=d.fd))
            if only is not None:
                names &= only | {n + SUFFIX for n in only}
            for name in names:
                if name.endswith(TEMP_SUFFIXES):
                    _temp(name, d.fd, f"{d.path}/{name}", checks, findings)
                elif name.endswith(SUFFIX):
                    files += 1
                    _pair(name[: -len(SUFFIX)], names, d.fd, f"{ns}/{name[: -len(SUFFIX)]}", root, checks, findings)
                elif name + SUFFIX not in names:
                    files += 1
                    findings.append(Finding("no_cinfo", root, f"{ns}/{name}", "no .cinfo beside it"))
        except OSError:
            errors += 1
    errors += walk.errors
    return UnitReport(files, findings, links, errors)


def _temp(name: str, dir_fd: int, abspath: str, checks: Checks, findings: list[Finding]) -> None:
    try:
        age = checks.now - os.lstat(name, dir_fd=dir_fd).st_mtime
    except FileNotFoundError:
        return
    if age > checks.temp_age:
        findings.append(Finding("stale_temp", -1, abspath, f"{age / 3600:.1f} h old"))


def _pair(base: str, names: set[str], dir_fd: int, path: str, root: int, checks: Checks, out: list[Finding]) -> None:
    name = base + SUFFIX
    try:
        st = os.stat(name, dir_fd=dir_fd)
        data = read_at(name, dir_fd, st.st_size)
    except FileNotFoundError:
        out.append(Finding("cinfo_bad", root, path, "its .cinfo is a dangling link" if base in names else "gone"))
        return
    except OSError as e:
        out.append(Finding("cinfo_bad", root, path, f".cinfo: {e.strerror}"))
        return
    foreign = checks.uid is not None and st.st_uid != checks.uid
    try:
        file_size, needed = cinfo.present_end(data)
    except cinfo.CinfoError as e:
        out.append(Finding("cinfo_bad", root, path, str(e)))
        file_size = needed = None
    if base not in names:
        out.append(Finding("no_data", root, path, "no data file beside its .cinfo"))
    else:
        try:
            dst = os.stat(base, dir_fd=dir_fd)
        except FileNotFoundError:
            out.append(Finding("no_data", root, path, "its data file is a dangling link"))
        else:
            foreign = foreign or (checks.uid is not None and dst.st_uid != checks.uid)
            if file_size is not None and needed is not None:
                if dst.st_size > file_size:
                    out.append(Finding("size_mismatch", root, path, f"data {dst.st_size} B, .cinfo says {file_size} B"))
                elif dst.st_size < needed:
                    detail = f"blocks present up to {needed} B, data ends at {dst.st_size} B"
                    out.append(Finding("blocks_beyond_end", root, path, detail))
    if foreign:
        out.append(Finding("foreign_owner", root, path, f"not owned by uid {checks.uid}"))


def _orphans(target: Target, linked: set[str], checks: Checks) -> tuple[list[Finding], int]:
    """Files on the data and meta disks that no namespace link points to (and stale temporaries there)."""
    findings: list[Finding] = []
    errors = 0
    for disk in target.disks:
        stack = [str(disk)]
        while stack:
            path = stack.pop()
            try:
                with os.scandir(path) as it:
                    entries = list(it)
            except OSError:
                errors += 1
                continue
            for e in entries:
                if path == str(disk) and e.name in target.reserved:
                    continue
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                elif e.name.endswith(TEMP_SUFFIXES):
                    dir_fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
                    try:
                        _temp(e.name, dir_fd, e.path, checks, findings)
                    finally:
                        os.close(dir_fd)
                elif e.path not in linked:
                    findings.append(Finding("orphan", -1, e.path, "no namespace link points to it"))
    return findings, errors


@dataclass
class Report:
    files: int = 0
    errors: int = 0
    findings: list[Finding] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)  # with --repair
    duration: float = 0.0

    def counts(self) -> Counter[str]:
        return Counter(f.kind for f in self.findings)


def check(target: Target, prefix: str = "/", temp_age: float = 3600, workers: int | None = None) -> Report:
    """Every finding under prefix (normalized) that holds at a second look (confirm), in report order."""
    start = time.monotonic()
    prefix = normalize(prefix)
    checks = Checks(target.uid, temp_age, time.time(), bool(target.disks) and prefix == "/", target.reserved)
    pool = Pool(workers or default_workers())
    report = Report()
    linked: set[str] = set()
    try:
        jobs = []
        for i, root in enumerate(target.roots):
            parts = tuple(p for p in prefix.split("/") if p)
            start_dir = root.joinpath(*parts)
            if prefix != "/" and not start_dir.is_dir():  # one cached file
                unit = Unit(str(start_dir.parent), parts[:-1], False)
                jobs.append(((i, unit), check_unit, (unit, i, frozenset([parts[-1].removesuffix(SUFFIX)]), checks)))
                continue
            units, errors = split(str(start_dir), parts, pool.size, skip=target.reserved)
            report.errors += errors
            jobs += [((i, u), check_unit, (u, i, None, checks)) for u in units]
        for _, r in pool.run(jobs, serial=len(jobs) <= 1):
            report.files += r.files
            report.errors += r.errors
            report.findings += r.findings
            linked.update(r.links)
    finally:
        pool.close()
    if checks.links:
        orphans, errors = _orphans(target, linked, checks)
        report.findings += orphans
        report.errors += errors
    if report.findings:
        time.sleep(SECOND_LOOK)
        report.findings, errors = confirm(target, report.findings, checks)
        report.errors += errors
    order = list(FINDINGS)
    report.findings.sort(key=lambda f: (order.index(f.kind), f.root, f.path))
    report.duration = time.monotonic() - start
    return report


def confirm(target: Target, findings: list[Finding], checks: Checks) -> tuple[list[Finding], int]:
    """The findings that hold when looked at again, and the files or directories that could not be read then.
    Namespace paths are checked again (a directory once, for the names found in it). A stale temporary must still be
    there and still stale. An orphan must still be there and older (st_ctime) than the walk: a file created during
    the walk is one xrootd was writing, whose namespace link the walk may have passed before it was made."""
    kept = []
    errors = 0
    dirs: dict[tuple[int, tuple[str, ...]], set[str]] = {}  # a directory once, for all the names found in it
    for f in findings:
        if f.kind not in STRAY:
            *parts, name = (p for p in f.path.split("/") if p)
            dirs.setdefault((f.root, tuple(parts)), set()).add(name)
            continue
        try:
            st = os.lstat(f.path)
        except FileNotFoundError:
            continue
        except OSError:
            errors += 1
            kept.append(f)  # not seen gone: it stays a finding
            continue
        if checks.now - st.st_mtime > checks.temp_age if f.kind == "stale_temp" else st.st_ctime < checks.now:
            kept.append(f)
    again = []
    for (root, parts), names in dirs.items():
        unit = Unit(str(target.roots[root].joinpath(*parts)), parts, False)
        report = check_unit(unit, root, frozenset(names), checks)
        again += report.findings
        errors += report.errors
    was = {(f.kind, f.root, f.path) for f in findings}
    return [g for g in again if (g.kind, g.root, g.path) in was] + kept, errors


def repair(target: Target, report: Report) -> None:
    """Move every file with a finding into quarantine (a pair once), skipping those xrootd has open."""
    remover = Remover(target, quarantine=True)
    bad = {(f.root, f.path): f.kind in STRAY for f in report.findings}  # a pair once, however many findings
    report.outcomes += remover.remove(
        CachedFile(target.roots[r], path) for (r, path), stray in bad.items() if not stray
    )
    report.outcomes += remover.remove_strays(Path(path) for (_, path), stray in bad.items() if stray)


def line(target: Target, f: Finding) -> str:
    where = f.path if f.root < 0 else f"{target.roots[f.root]}:{f.path}"
    return f"{f.kind}: {where}: {f.detail}"
