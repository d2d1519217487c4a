"""Take cached files out of a live cache without corrupting a transfer: into quarantine, or deleted.

XRootD 5.5.3 has no safe server-side eviction a cachemgr command can use (README, "Cache integrity"): this works on
the files, and only on files no xrootd process has open (openfiles.py). Checking and then moving would race with a
client opening the file in between, so the namespace names are renamed away first and the inodes checked after:

- the .cinfo goes first. XrdPfc opens the data file, then the cinfo (File::Open): a client opening in between
  finds no cinfo, starts a fresh one with no block present and refetches into the data file, never trusting blocks
  it does not have. The data file goes next.
- after each rename the open inodes are read again: a file opened meanwhile is put back under its name (a hard
  link, so a name xrootd made meanwhile is never overwritten) and reported as skipped.
- only then, with no name left to open them by, are the link targets of a multi-disk node moved (or deleted).

Quarantine: `<disk>/.cachemgr-quarantine/<UTC time>/<path on that disk>`, a rename on the file's own disk; prune()
keeps it under a size cap and an age.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from cachemgr.integrity import QUARANTINE
from cachemgr.integrity.layout import CachedFile
from cachemgr.integrity.openfiles import inode, open_inodes
from cachemgr.integrity.target import Target


@dataclass(frozen=True)
class Outcome:
    file: CachedFile
    files: int  # real files (not links) freed, moved, or that would be (dry run)
    bytes: int  # their disk usage (st_blocks)
    skipped: str | None = None  # why nothing was done; files/bytes then say what stays


def usage(path: Path) -> tuple[int, int]:
    """(files, bytes on disk) behind a name, through a link; a dangling link or nothing: (0, 0)."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return 0, 0
    return 1, st.st_blocks * 512


class Remover:
    """Removes cached files of target: into quarantine (quarantine=True) or deleted; dry_run only counts."""

    def __init__(self, target: Target, quarantine: bool, dry_run: bool = False) -> None:
        self.target = target
        self.quarantine = quarantine
        self.dry_run = dry_run
        self.batch = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{os.getpid()}"

    def remove(self, cf: CachedFile) -> Outcome:
        names = [p for p in (cf.cinfo, cf.data) if os.path.lexists(p)]  # the cinfo first: see the docstring
        counts = [usage(p) for p in names]
        files, size = sum(c[0] for c in counts), sum(c[1] for c in counts)
        if self.dry_run:
            return Outcome(cf, files, size)
        ids = {i for i in map(inode, names) if i is not None}
        if ids & open_inodes():
            return Outcome(cf, files, size, "open by xrootd")
        parked: list[tuple[Path, Path]] = []
        for name in names:
            parked.append((name, self._park(name)))
            if ids & open_inodes():
                kept = [orig for orig, moved in reversed(parked) if _restore(moved, orig)]
                what = "put back" if len(kept) == len(parked) else "left a name xrootd remade meanwhile"
                return Outcome(cf, files, size, f"opened by xrootd while being moved ({what})")
        for _, moved in parked:
            if moved.is_symlink():  # multi-disk: its target, on a data or meta disk, is unreachable now
                space_file = Path(os.readlink(moved))
                if os.path.lexists(space_file):
                    self._dispose(space_file)
            if not self.quarantine:
                self._delete(moved)
        return Outcome(cf, files, size)

    def remove_stray(self, path: Path) -> Outcome:
        """One file of a disk outside the namespace (a stale temporary, an orphan on a data disk)."""
        files, size = usage(path)
        disk = disk_of(self.target, path)
        cf = CachedFile(disk, "/" + str(path.relative_to(disk)))
        if self.dry_run:
            return Outcome(cf, files, size)
        ids = {i for i in [inode(path)] if i is not None}
        if ids & open_inodes():
            return Outcome(cf, files, size, "open by xrootd")
        moved = self._park(path)
        if ids & open_inodes():
            _restore(moved, path)
            return Outcome(cf, files, size, "opened by xrootd while being moved (put back)")
        if not self.quarantine:
            self._delete(moved)
        return Outcome(cf, files, size)

    def _park(self, path: Path) -> Path:
        """Rename path into its disk's quarantine (this run's batch); the caller deletes it when not quarantining."""
        disk = disk_of(self.target, path)
        dest = disk / QUARANTINE / self.batch / path.relative_to(disk)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.rename(path, dest)
        return dest

    def _dispose(self, path: Path) -> None:
        if self.quarantine:
            self._park(path)
        else:
            path.unlink()

    def _delete(self, parked: Path) -> None:
        """Delete a parked file, and the directories of this batch it leaves empty."""
        parked.unlink()
        d = parked.parent
        while d.name != QUARANTINE:
            try:
                d.rmdir()
            except OSError:  # not empty: another parked file is still there
                return
            d = d.parent
        with contextlib.suppress(OSError):
            d.rmdir()  # the quarantine itself, when nothing else is in it


def _restore(moved: Path, orig: Path) -> bool:
    """Put a parked name back, unless something took its place meanwhile."""
    try:
        os.link(moved, orig, follow_symlinks=False)
    except FileExistsError:
        return False
    moved.unlink()
    return True


def disk_of(target: Target, path: Path) -> Path:
    """The root or disk path lies on (the deepest that holds it); else its filesystem's mount point."""
    path = Path(os.path.abspath(path))
    known = [d for d in (*target.roots, *target.disks) if path.is_relative_to(d)]
    if known:
        return max(known, key=lambda d: len(d.parts))
    dev = os.lstat(path).st_dev
    d = path.parent
    while d.parent != d and os.stat(d.parent).st_dev == dev:
        d = d.parent
    return d


def prune(target: Target, max_bytes: int, max_age: float, now: float | None = None) -> tuple[int, int]:
    """Delete quarantine batches older than max_age seconds, then the oldest while a disk's quarantine holds more
    than max_bytes. Returns (batches, bytes) deleted."""
    now = time.time() if now is None else now
    gone = freed = 0
    for disk in (*target.roots, *target.disks):
        q = disk / QUARANTINE
        if not q.is_dir():
            continue
        batches = sorted((b for b in q.iterdir() if b.is_dir()), key=lambda b: b.name)
        sizes = {b: _du(b) for b in batches}
        total = sum(sizes.values())
        for b in batches:
            if now - b.stat().st_mtime <= max_age and total <= max_bytes:
                break
            shutil.rmtree(b)
            gone, freed, total = gone + 1, freed + sizes[b], total - sizes[b]
    return gone, freed


def _du(path: Path) -> int:
    """Bytes the files (not the directories) under path use."""
    return sum(p.lstat().st_blocks * 512 for p in path.rglob("*") if not p.is_dir())
