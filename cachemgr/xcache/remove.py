"""Take cached files out of a live cache without corrupting a transfer: into quarantine, or deleted.

XRootD 5.5.3 has no safe server-side eviction a cachemgr command can use (README, "Cache integrity"): this works on
the files, and only on files no xrootd process has open (openfiles.py). Checking and then moving would race with a
client opening the file in between, so the namespace names are renamed away first and the inodes checked after:

- the .cinfo goes first. XrdPfc opens the data file, then the cinfo (File::Open): a client opening in between
  finds no cinfo, starts a fresh one with no block present and refetches into the data file, never trusting blocks
  it does not have. The data file goes next.
- the open inodes are read again after each step of renames (every cinfo of a chunk of up to CHUNK files, then
  every data file): a file opened meanwhile (an fd on its inode, or a moved name that xrootd made again) is put
  back under its names (hard links, so a name xrootd made meanwhile is never overwritten) and reported as
  skipped. Per chunk, not per file: a sweep of /proc costs milliseconds, a rename microseconds.
- only then, with no name left to open them by, are the link targets of a multi-disk node moved (or deleted).

Quarantine: `<disk>/.cachemgr-quarantine/<UTC time>/<path on that disk>`, a rename on the file's own disk; prune()
keeps it under a size cap and an age.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from cachemgr.xcache.layout import QUARANTINE, Cache, CachedFile
from cachemgr.xcache.openfiles import Inode, OpenFilesUnknown, open_inodes


@dataclass(frozen=True)
class Outcome:
    file: CachedFile
    files: int  # real files (not links) freed, moved, or that would be (dry run)
    bytes: int  # their disk usage (st_blocks)
    skipped: str | None = None  # why nothing was done; files/bytes then say what stays


CHUNK = 256  # files renamed between two reads of the open files: three /proc sweeps a chunk, not a file


@dataclass
class _Item:
    """A cached file (or a stray) on its way out: its names in the order they are renamed away."""

    file: CachedFile
    names: list[Path]
    files: int  # counted before any move: what is freed, or what stays
    bytes: int
    ids: set[Inode]
    parked: list[tuple[Path, Path]] = field(default_factory=list)  # (name, where it is parked now)
    skipped: str | None = None


def _item(cf: CachedFile, candidates: tuple[Path, ...]) -> _Item:
    """The candidates that exist (a dangling link too), with what they free: one stat a name, through links."""
    item = _Item(cf, [], 0, 0, set())
    for name in candidates:
        try:
            st = os.stat(name)
        except (FileNotFoundError, NotADirectoryError):
            if os.path.lexists(name):  # a dangling link: a name to remove, nothing behind it
                item.names.append(name)
            continue
        item.names.append(name)
        item.files += 1
        item.bytes += st.st_blocks * 512
        item.ids.add((st.st_dev, st.st_ino))
    return item


class Remover:
    """Removes cached files of target: into quarantine (quarantine=True) or deleted; dry_run only counts."""

    def __init__(self, target: Cache, quarantine: bool, dry_run: bool = False) -> None:
        self.target = target
        self.quarantine = quarantine
        self.dry_run = dry_run
        self.batch = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{os.getpid()}"
        self._made: set[Path] = set()  # quarantine directories made during this chunk
        self._vacated: set[Path] = set()  # quarantine directories a file left during this chunk

    def remove(self, files: Iterable[CachedFile]) -> Iterator[Outcome]:
        """Each cached file (.cinfo and data), an Outcome each, in order; lazily, a chunk at a time."""
        return self._remove(_item(cf, (cf.cinfo, cf.data)) for cf in files)

    def remove_strays(self, paths: Iterable[Path]) -> Iterator[Outcome]:
        """Files of a disk outside the namespace (stale temporaries, orphans on a data disk), an Outcome each."""
        return self._remove(self._stray(path) for path in paths)

    def _stray(self, path: Path) -> _Item:
        disk = disk_of(self.target, path)
        return _item(CachedFile(disk, "/" + str(path.relative_to(disk))), (path,))

    def _remove(self, items: Iterable[_Item]) -> Iterator[Outcome]:
        it = iter(items)
        while chunk := list(islice(it, CHUNK)):
            if not self.dry_run:
                self._chunk(chunk)
            yield from (Outcome(i.file, i.files, i.bytes, i.skipped) for i in chunk)

    def _chunk(self, items: list[_Item]) -> None:
        """Step k renames away the k-th name of every item (all the cinfos first), then reads the open files
        again: an item opened meanwhile is put back (see the docstring). Sets item.skipped for those left."""
        try:
            self._move_all(items)
        finally:
            for d in sorted(self._vacated, key=lambda d: len(d.parts), reverse=True):  # the deepest first
                _remove_empty_dirs(d)
            self._made.clear()
            self._vacated.clear()

    def _move_all(self, items: list[_Item]) -> None:
        opened = open_inodes()
        for item in items:
            if item.ids & opened:
                item.skipped = "open by xrootd"
        try:
            for k in range(max(len(item.names) for item in items)):
                for item in items:
                    if k < len(item.names) and not item.skipped:
                        self._move(item, item.names[k])
                opened = open_inodes()
                for item in items:  # an fd on its inode, or a parked name made again: xrootd opened it meanwhile
                    if not item.skipped and (item.ids & opened or any(os.path.lexists(n) for n, _ in item.parked)):
                        what = "put back" if self._put_back(item) else "left a name xrootd remade meanwhile"
                        item.skipped = f"opened by xrootd while being moved ({what})"
        except OpenFilesUnknown:  # an xrootd whose fds cannot be read started meanwhile: the chunk goes back whole
            for item in items:
                self._put_back(item)
            raise
        for item in items:
            if not item.skipped:
                try:
                    self._finish(item)
                except OSError as e:  # out of the namespace already; what is left stays in the quarantine
                    item.skipped = f"moved out but not removed: {e.filename}: {e.strerror}"

    def _move(self, item: _Item, name: Path) -> None:
        try:
            item.parked.append((name, self._park(name)))
        except FileNotFoundError:
            pass  # gone meanwhile (xrootd's purge): nothing left to move
        except OSError as e:  # a disk error: the item is left as it was
            self._put_back(item)
            item.skipped = f"not moved: {e.filename}: {e.strerror}"

    def _finish(self, item: _Item) -> None:
        for _, moved in item.parked:
            if moved.is_symlink():  # multi-disk: its target, on a data or meta disk, is unreachable now
                space_file = Path(os.readlink(moved))
                if os.path.lexists(space_file):
                    self._dispose(space_file)
            if not self.quarantine:
                moved.unlink()
                self._vacated.add(moved.parent)

    def _park(self, path: Path) -> Path:
        """Rename path into its disk's quarantine (this run's batch); the caller deletes it when not quarantining."""
        disk = disk_of(self.target, path)
        dest = disk / QUARANTINE / self.batch / path.relative_to(disk)
        if dest.parent not in self._made:
            dest.parent.mkdir(parents=True, exist_ok=True)
            self._made.add(dest.parent)
        os.rename(path, dest)
        return dest

    def _dispose(self, path: Path) -> None:
        if self.quarantine:
            self._park(path)
        else:
            path.unlink()

    def _put_back(self, item: _Item) -> bool:
        """Put an item's parked names back (last parked first); False when one could not be: something took its
        place (or its directory went) meanwhile, and its parked copy stays."""
        kept = True
        for orig, moved in reversed(item.parked):
            try:
                os.link(moved, orig, follow_symlinks=False)
            except OSError:
                kept = False
                continue
            moved.unlink()
            self._vacated.add(moved.parent)
        item.parked.clear()
        return kept


def _remove_empty_dirs(d: Path) -> None:
    """The directories of a batch a parked file leaves empty, up to the quarantine itself."""
    while d.name != QUARANTINE:
        try:
            d.rmdir()
        except OSError:  # not empty: another parked file is still there
            return
        d = d.parent
    with contextlib.suppress(OSError):
        d.rmdir()  # the quarantine itself, when nothing else is in it


def disk_of(target: Cache, path: Path) -> Path:
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


def prune(target: Cache, max_bytes: int, max_age: float, now: float | None = None) -> tuple[int, int]:
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
