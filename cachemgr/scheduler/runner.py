"""Run crontab entries on time: each task in its own process, never overlapping itself, bounded in time."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Protocol

from croniter import croniter

from cachemgr.scheduler.crontab import SITE, CronEntry, is_site_task
from cachemgr.scheduler.state import TaskStates


class Clock(Protocol):
    def time(self) -> float: ...
    def sleep(self, seconds: float, stop: threading.Event) -> None: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float, stop: threading.Event) -> None:
        stop.wait(max(seconds, 0))


def task_command(entry: CronEntry) -> list[str]:
    if is_site_task(entry.task):  # the site's own executable, with its arguments as written
        return [entry.task.removeprefix(SITE), *entry.args]
    return [sys.executable, "-m", "cachemgr", "task", entry.task, *entry.args]


def execute(
    command: list[str], timeout: float, started: Callable[[subprocess.Popen], None] | None = None
) -> tuple[bool, str]:
    """Run one task in a session of its own; on timeout kill the whole group (fetch-crl runs a child).

    Returns (ok, the last line it printed, or why it failed).
    """
    try:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    except OSError as e:
        return False, str(e)
    if started:
        started(proc)
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return False, f"timed out after {timeout}s and was killed"
    last = (output or "").strip().splitlines()[-1:] or [""]
    if proc.returncode != 0:
        return False, f"exit {proc.returncode}: {last[0]}"
    return True, last[0]


def _log(message: str) -> None:
    print(f"{dt.datetime.now(dt.UTC):%Y-%m-%dT%H:%M:%SZ} {message}", flush=True)


class Scheduler:
    def __init__(
        self,
        entries: list[CronEntry],
        state: TaskStates,
        clock: Clock | None = None,
        log: Callable[[str], None] = _log,
    ):
        self.entries = entries
        self.state = state
        self.clock = clock or SystemClock()
        self.log = log
        self.stop = threading.Event()
        self._running: dict[str, subprocess.Popen | None] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def _next(self, entry: CronEntry, after: float) -> float:
        return croniter(entry.schedule, dt.datetime.fromtimestamp(after).astimezone()).get_next(float)

    def run(self, until: float | None = None) -> None:
        """Until stop is set (or the clock passes `until`): start due entries, sleep to the next."""
        now = self.clock.time()
        for entry in self.entries:
            if entry.at_start:
                self.launch(entry, delay=0)
        due = {entry: self._next(entry, now) for entry in self.entries}
        while not self.stop.is_set():
            now = self.clock.time()
            if until is not None and now >= until:
                break
            for entry, when in due.items():
                if when <= now:
                    self.launch(entry, entry.delay)
                    due[entry] = self._next(entry, when)
            wake = min(due.values(), default=now + 60)
            self.clock.sleep(wake - now if until is None else min(wake, until) - now, self.stop)
        self.shutdown()

    def launch(self, entry: CronEntry, delay: float) -> None:
        with self._lock:
            if entry.task in self._running:
                self.log(f"task {entry.task} (line {entry.line}) still running: this run is skipped")
                return
            self._running[entry.task] = None
        thread = threading.Thread(target=self._run, args=(entry, delay), name=entry.task, daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]  # `cachemgr cron` runs for months
        thread.start()

    def _run(self, entry: CronEntry, delay: float) -> None:
        try:
            if delay:
                self.clock.sleep(random.uniform(0, delay), self.stop)
            if self.stop.is_set():
                return
            start = self.clock.time()
            self.state.started(entry.task, start)
            self.log(f"task {entry.task} started")
            ok, detail = self._execute(entry)
            end = self.clock.time()
            self.state.finished(entry.task, end, ok, None if ok else detail)
            verdict = "succeeded" if ok else "FAILED"
            self.log(f"task {entry.task} {verdict} in {end - start:.1f}s: {detail}")
        finally:
            with self._lock:
                self._running.pop(entry.task, None)

    def _execute(self, entry: CronEntry) -> tuple[bool, str]:
        def track(proc: subprocess.Popen) -> None:  # for shutdown to signal
            with self._lock:
                self._running[entry.task] = proc

        return execute(task_command(entry), entry.timeout, track)

    def shutdown(self, grace: float = 5) -> None:
        """Stop scheduling; give running tasks `grace` seconds to finish, then TERM, then KILL."""
        self.stop.set()
        for signum in (None, signal.SIGTERM, signal.SIGKILL):
            with self._lock:
                procs = [p for p in self._running.values() if p is not None and p.poll() is None]
            if not procs:
                break
            for proc in procs if signum else ():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signum)
            deadline = time.monotonic() + grace
            for proc in procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(max(deadline - time.monotonic(), 0))
        for thread in self._threads:
            thread.join(grace)
