"""Relay every program's log file to the pod's stdout, one `[program] line` at a time.

supervisord writes each program's output to paths.log/<program>.log (and rotates it); following the
files keeps them for `cachemgr status` and needs no extra process per program.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import TextIO


class Relay(threading.Thread):
    def __init__(self, log_dir: Path, out: TextIO, interval: float = 0.3, skip_existing: bool = False):
        """skip_existing: the programs have not started yet, so what the files hold was relayed by the run that
        wrote it (supervise started again with the same log dir, as demo --fleet restarts a node): not repeated."""
        super().__init__(name="log-relay", daemon=True)
        self.log_dir = log_dir
        self.out = out
        self.interval = interval
        self.stop = threading.Event()
        self._open: dict[Path, tuple[int, TextIO]] = {}  # path -> (inode, file)
        self._before: dict[Path, tuple[int, int]] = {}  # path -> (inode, size) when we started
        for path in log_dir.glob("*.log") if skip_existing else ():
            with contextlib.suppress(FileNotFoundError):  # rotated away meanwhile
                st = path.stat()
                self._before[path] = (st.st_ino, st.st_size)

    def _follow(self, path: Path) -> None:
        try:
            inode = path.stat().st_ino
        except FileNotFoundError:
            return
        known = self._open.get(path)
        if known is None or known[0] != inode:  # new, or rotated away
            if known:  # what was written before the rotation, even an unfinished last line: no more will come
                self._relay(path.stem, known[1], final=True)
                known[1].close()
            self._open[path] = known = (inode, path.open(errors="replace"))
            seen_inode, seen_size = self._before.pop(path, (None, 0))
            if seen_inode == inode:
                known[1].seek(seen_size)
        self._relay(path.stem, known[1], final=False)

    def _relay(self, name: str, f: TextIO, final: bool) -> None:
        while True:
            start = f.tell()
            line = f.readline()
            if not line or (not line.endswith("\n") and not final):  # wait for the rest of a line being written
                f.seek(start)
                break
            self.out.write(f"[{name}] {line.rstrip(chr(10))}\n")

    def run(self) -> None:
        while True:
            for path in sorted(self.log_dir.glob("*.log")):
                self._follow(path)
            self.out.flush()
            if self.stop.wait(self.interval):
                break
        for path in sorted(self.log_dir.glob("*.log")):  # the last words before exit
            self._follow(path)
        self.out.flush()
