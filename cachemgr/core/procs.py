"""Processes: wait until something holds, stop a process within a time, find what a process started, act on the
signals this process gets.

One of each, for the daemons, pods and demos of cachemgr/local and for the tests (tests/support/wait.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

import psutil

T = TypeVar("T")


class TimedOut(Exception):
    """What wait_until raises by default: what it waited for did not come in time (its message says what)."""


def wait_until(
    condition: Callable[[], T],
    timeout: float,
    interval: float,
    what: str | Callable[[], object],
    ignore: tuple[type[BaseException], ...] = (),
    error: Callable[[str], BaseException] = TimedOut,
) -> T:
    """Call condition at once, then every interval seconds, until it returns a truthy value; return that value.

    After timeout seconds raise error("<what> (still after <timeout> s; last: …)"): what (or what() then) names
    what was awaited, last is what condition returned or raised last. An exception of a type in ignore counts as
    "not yet" and the last one is the error's cause; any other propagates at once (a daemon that exited, say), and
    so does a nested wait's TimedOut even when ignored: it has already waited its own time.
    """
    deadline = time.monotonic() + timeout
    while True:
        failure: BaseException | None = None
        try:
            value = condition()
        except TimedOut:
            raise
        except ignore as e:
            value, failure = None, e
        else:
            if value:
                return value
        if time.monotonic() >= deadline:
            said = what() if callable(what) else what
            last = f"{type(failure).__name__}: {failure}" if failure is not None else repr(value)
            last = last if len(last) <= 500 else f"{last[:500]}…"  # a cause is shown whole, chained below
            raise error(f"{said} (still after {timeout:g} s; last: {last})") from failure
        time.sleep(interval)


def stop(proc: subprocess.Popen, within: float, group: bool = False, target: int | None = None) -> None:
    """SIGTERM, up to `within` seconds for proc to exit, then SIGKILL, and wait for it.

    group: the SIGKILL goes to proc's whole process group (it leads one: start_new_session), so what it started and
    did not stop in time goes with it; the SIGTERM goes to it alone, to stop its own way (supervise drains first).
    target: the pid to signal when that is not proc but the process proc runs and exits with (unshare --fork's child).
    """
    if proc.poll() is not None:
        return
    pid = target or proc.pid
    with contextlib.suppress(ProcessLookupError):  # it may be exiting already
        os.kill(pid, signal.SIGTERM)
    try:
        proc.wait(within)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            (os.killpg if group else os.kill)(pid, signal.SIGKILL)
        proc.wait()


def carrying(name: str, value: str) -> list[psutil.Process]:
    """Running processes whose environment has name=value: everything one process started (it set name=value in its
    own environment first), however it started them (setsid, double forks, parents gone), except programs that
    start with an environment of their own (podman's conmon and containers). Only environments we may read count:
    as root every process's, else our own user's."""
    found = []
    for p in psutil.process_iter():
        try:
            if p.environ().get(name) == value:
                found.append(p)
        except psutil.Error:  # gone, a zombie's, or not ours to read
            continue
    return found


def on_signals(signums: Iterable[int], act: Callable[[int], None]) -> None:
    """From now on, call act(signum) for each of signums this process gets, in a thread of its own.

    Not act in a Python handler: CPython runs handlers in the main thread only, once it runs Python again, and the
    kernel may hand a process's signal to any of its threads; a main thread blocked in a lock (Event.wait(),
    Queue.get()) then sleeps on, and a SIGTERM goes unanswered until the SIGKILL. The C-level handler writes the
    signal's number to the wakeup fd whichever thread took it: a thread reading that pipe wakes and acts. Not a
    blocked mask and sigwait() either: every child would inherit the mask. Call it from the main thread, once.
    """
    read, write = os.pipe()
    os.set_blocking(write, False)
    signal.set_wakeup_fd(write)
    for signum in signums:
        signal.signal(signum, lambda *_: None)  # a handler of ours: the default would end the process or ignore it

    def relay() -> None:
        while True:
            act(os.read(read, 1)[0])

    threading.Thread(target=relay, name="signals", daemon=True).start()
