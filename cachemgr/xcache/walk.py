"""Walking a cache's namespace: the tree split into units (directory subtrees, split()), each walked by Walk, and a
pool of worker processes to walk them in, one per core (parsing cinfo files is Python: threads would serialize). The
cache scan and fsck hand their own module-level function to run on each unit; evict walks serially."""

from __future__ import annotations

import contextlib
import os
import pickle
import selectors
import subprocess
import sys
from collections.abc import Callable, Container, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

UNITS_PER_WORKER = 8  # split the tree until there are this many subtrees per worker (or MAX_CUT levels)
MAX_CUT = 6
_PKG_ROOT = str(Path(__file__).resolve().parents[2])  # where the workers import cachemgr from


def default_workers() -> int:
    return max(1, min(len(os.sched_getaffinity(0)), 4))


class Unit(NamedTuple):
    path: str
    parts: tuple[str, ...]  # namespace path components of path, from the root
    recursive: bool  # False: only the files directly in path (a directory above the cut)


class Directory(NamedTuple):
    fd: int  # open while the walk's caller looks at it: stat and open its files by name, relative to it
    path: str
    parts: tuple[str, ...]  # its namespace path components, from the root
    files: list[os.DirEntry]  # its entries that are not directories


class Walk:
    """The directories of one unit, depth first, each open while the caller looks at it. A directory gone meanwhile
    (purge) is passed over; one that cannot be read is counted in errors, or raised when strict. skip: names in the
    namespace root that are not the cache's (the quarantine, the disk sentinel)."""

    def __init__(self, unit: Unit, skip: Container[str] = (), strict: bool = False) -> None:
        self.unit, self.skip, self.strict = unit, skip, strict
        self.errors = 0

    def __iter__(self) -> Iterator[Directory]:
        stack = [(self.unit.path, self.unit.parts)]
        while stack:
            path, parts = stack.pop()
            try:
                fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
            except FileNotFoundError:
                continue
            except OSError:
                if self.strict:
                    raise
                self.errors += 1
                continue
            try:
                yield Directory(fd, path, parts, self._files(fd, path, parts, stack))
            finally:
                os.close(fd)

    def _files(self, fd: int, path: str, parts: tuple[str, ...], stack: list) -> list[os.DirEntry]:
        files = []
        try:
            with os.scandir(fd) as it:
                entries = list(it)
        except OSError:
            if self.strict:
                raise
            self.errors += 1
            return files
        for entry in entries:
            if not parts and entry.name in self.skip:
                continue
            try:
                if not entry.is_dir(follow_symlinks=False):
                    files.append(entry)
                elif self.unit.recursive:
                    stack.append((f"{path}/{entry.name}", (*parts, entry.name)))
            except OSError:
                if self.strict:
                    raise
                self.errors += 1
        return files


def read_at(name: str, dir_fd: int, size: int) -> bytes:
    """A cinfo file in dir_fd, whole even when it grew since its stat said size."""
    fd = os.open(name, os.O_RDONLY, dir_fd=dir_fd)
    try:
        chunks = [os.read(fd, size + 4096)]
        while len(chunks[-1]) == size + 4096:  # grew since the stat: read it all, as cinfo.read does
            chunks.append(os.read(fd, 1 << 16))
        return b"".join(chunks)
    finally:
        os.close(fd)


def _serve() -> None:
    """A worker's loop: a pickled (function, *arguments) on stdin, the pickled result on stdout. The function is
    a module-level one (pickled by name): scan_unit, or fsck's check of a unit."""
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    while True:
        try:
            func, *args = pickle.load(inp)
        except EOFError:
            return  # the exporter closed our stdin, or died
        pickle.dump(func(*args), out, pickle.HIGHEST_PROTOCOL)
        out.flush()


class _Worker:
    """A `python -c` child running _serve. Not multiprocessing: fork would copy the exporter's HTTP and UDP
    threads mid-flight, and spawn/forkserver re-import the program's __main__."""

    def __init__(self) -> None:
        path = [_PKG_ROOT, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        self.proc = subprocess.Popen(
            [sys.executable, "-c", f"from {__name__} import _serve; _serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(path)},
            start_new_session=True,  # a ^C to the exporter's process group is for the exporter to handle
        )
        assert self.proc.stdin and self.proc.stdout
        self.inp, self.out = self.proc.stdin, self.proc.stdout
        self.fd = self.out.fileno()

    def send(self, job: tuple) -> None:
        pickle.dump(job, self.inp, pickle.HIGHEST_PROTOCOL)
        self.inp.flush()

    def receive(self) -> Any:
        return pickle.load(self.out)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.inp.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.out.close()


class Pool:
    """Worker processes (one per core, at most 4) running module-level functions, one job in flight per worker:
    with two, a worker blocked writing a big result while we block writing its next job would deadlock."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._workers: list[_Worker] = []

    def run(self, jobs: Iterable[tuple[Any, Callable, tuple]], serial: bool = False) -> Iterator[tuple[Any, Any]]:
        """(key, func(*args)) for each (key, func, args) of jobs, in the order they finish. jobs is read lazily,
        one ahead per worker; with size 1, or when serial, they run here in order."""
        if self.size <= 1 or serial:
            for key, func, args in jobs:
                yield key, func(*args)
            return
        while len(self._workers) < self.size:
            self._workers.append(_Worker())
        todo = iter(jobs)
        busy: dict[int, tuple[_Worker, Any]] = {}
        with selectors.DefaultSelector() as sel:

            def send(worker: _Worker) -> None:
                job = next(todo, None)
                if job is not None:
                    key, func, args = job
                    worker.send((func, *args))
                    busy[worker.fd] = (worker, key)
                    sel.register(worker.fd, selectors.EVENT_READ)

            try:
                for worker in self._workers:
                    send(worker)
                while busy:
                    for k, _ in sel.select():
                        worker, key = busy.pop(k.fd)
                        sel.unregister(k.fd)
                        result = worker.receive()
                        send(worker)
                        yield key, result
            except (OSError, EOFError, pickle.UnpicklingError) as e:
                self.close()  # fresh workers next time
                raise OSError(f"scan worker failed: {e}") from None

    def close(self) -> None:
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.close()


def split(path: str, parts: tuple[str, ...], workers: int, skip: Container[str] = ()) -> tuple[list[Unit], int]:
    """The units of the tree at path (its namespace components: parts), and the directories that could not be
    listed: directories above the cut (their own files) and the subtrees at the cut, which is as deep as it takes
    to get UNITS_PER_WORKER subtrees per worker, so that the walk spreads over the workers. skip: names of
    directories at the top that are not the cache's (the quarantine)."""
    units = []
    errors = 0
    frontier: list[tuple[str, tuple[str, ...]]] = [(path, parts)]
    level = 0
    while frontier and len(frontier) < UNITS_PER_WORKER * workers and level < MAX_CUT:
        below = []
        for path, parts in frontier:
            try:
                with os.scandir(path) as it:
                    entries = list(it)
            except FileNotFoundError:
                continue
            except OSError:
                errors += 1
                continue
            files = False
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if not (level == 0 and entry.name in skip):
                            below.append((entry.path, (*parts, entry.name)))
                    elif not (level == 0 and entry.name in skip):
                        files = True  # fsck wants every file, not only the cinfo files
                except OSError:
                    errors += 1
            if files:
                units.append(Unit(path, parts, False))
        frontier = below
        level += 1
    units.extend(Unit(path, parts, True) for path, parts in frontier)
    return units, errors
