"""cachemgr.core.procs: the one wait-until and the one stop the package and the tests use, on real processes."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from support.wait import NotEventually, eventually

from cachemgr.core import procs

# A shell that ignores SIGTERM (a daemon stuck in its stop), and one that starts a child in its process group.
DEAF = ["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.1; done"]
PARENT = ["sh", "-c", "trap '' TERM; sleep 60 & echo $!; wait"]


def started(cmd: list[str], **kwargs) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, **kwargs)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()  # once it has set its trap


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_wait_until_returns_the_first_truthy_value_calling_at_once_then_every_interval():
    calls = itertools.count(1)
    t0 = time.monotonic()
    assert procs.wait_until(lambda: [n] if (n := next(calls)) >= 3 else [], 5, 0.1, "three calls") == [3]
    assert time.monotonic() - t0 >= 0.2  # two intervals slept between the three calls


def test_wait_until_names_what_it_waited_for_and_the_last_value_when_it_times_out():
    with pytest.raises(procs.TimedOut) as raised:
        procs.wait_until(lambda: [], 0.3, 0.05, "the list to fill")
    assert str(raised.value) == "the list to fill (still after 0.3 s; last: [])"


def test_wait_until_raises_the_callers_error_and_chains_the_last_ignored_exception():
    def probe() -> bool:
        raise ConnectionRefusedError("port 1094")

    with pytest.raises(LookupError) as raised:
        procs.wait_until(probe, 0.2, 0.05, lambda: "xrootd to listen", ignore=(OSError,), error=LookupError)
    assert str(raised.value) == "xrootd to listen (still after 0.2 s; last: ConnectionRefusedError: port 1094)"
    assert isinstance(raised.value.__cause__, ConnectionRefusedError)


def test_wait_until_lets_other_exceptions_and_a_nested_timeout_through_at_once():
    calls = itertools.count(1)

    def exited() -> bool:
        next(calls)
        raise RuntimeError("the daemon exited")

    with pytest.raises(RuntimeError):
        procs.wait_until(exited, 5, 0.05, "never")

    def nested() -> int:
        next(calls)
        return procs.wait_until(lambda: 0, 0.1, 0.05, "inner")

    with pytest.raises(procs.TimedOut, match="inner"):  # ignored as an Exception, but it has waited its time
        procs.wait_until(nested, 5, 0.05, "outer", ignore=(Exception,))
    assert next(calls) == 3  # each condition called once: no second try


def test_eventually_is_wait_until_failing_the_test():
    with pytest.raises(NotEventually, match=r"^not yet \(still after 0.1 s; last: 0\)$") as raised:
        eventually(lambda: 0, 0.1, 0.05, message="not yet")
    assert isinstance(raised.value, AssertionError)


def test_stop_ends_a_process_that_obeys_sigterm_at_once():
    proc = subprocess.Popen(["sleep", "60"])
    procs.stop(proc, 60)
    assert proc.returncode == -15  # no SIGKILL: it did not wait out `within`


def test_stop_kills_a_process_that_ignores_sigterm_after_within():
    proc, _ = started(DEAF)
    t0 = time.monotonic()
    procs.stop(proc, 0.5)
    assert proc.returncode == -9 and time.monotonic() - t0 >= 0.5


def test_stop_of_a_group_kills_what_its_leader_started_too():
    proc, child = started(PARENT, start_new_session=True)
    procs.stop(proc, 0.3, group=True)
    assert proc.returncode == -9
    eventually(lambda: gone(int(child)), 2, 0.05, "the leader's child outlived the group's SIGKILL")


def test_stop_of_a_process_alone_leaves_its_group():
    proc, child = started(PARENT, start_new_session=True)
    procs.stop(proc, 0.3)
    try:
        assert proc.returncode == -9 and not gone(int(child))
    finally:
        os.kill(int(child), signal.SIGKILL)


def test_stop_signals_the_target_a_launcher_runs_and_waits_for_the_launcher():
    launcher = subprocess.Popen(["sh", "-c", "sleep 60; exit 3"])  # as unshare --fork runs its child, and exits
    target = eventually(lambda: psutil.Process(launcher.pid).children(), 2, 0.02)[0]
    procs.stop(launcher, 60, target=target.pid)
    assert launcher.returncode == 3  # the launcher exited on its own once its target had: no SIGKILL
    assert gone(target.pid)


# A main thread blocked in Event.wait(), the signal handed to another thread (pthread_kill): on_signals acts all the
# same. A plain handler setting the Event would run only once the main thread ran Python again: never, here.
TAKEN_BY_ANOTHER_THREAD = """
import signal, threading
from cachemgr.core import procs
stop, busy = threading.Event(), threading.Event()
procs.on_signals([signal.SIGTERM], lambda signum: stop.set())
worker = threading.Thread(target=busy.wait, daemon=True)
worker.start()
signal.pthread_kill(worker.ident, signal.SIGTERM)
print(stop.wait(10))
"""


def test_on_signals_acts_on_a_signal_another_thread_takes_while_the_main_thread_waits():
    result = subprocess.run([sys.executable, "-c", TAKEN_BY_ANOTHER_THREAD], capture_output=True, text=True, timeout=30)
    assert (result.returncode, result.stdout) == (0, "True\n"), result.stderr
