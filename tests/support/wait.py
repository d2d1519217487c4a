"""Waiting for something that happens on its own clock (a daemon starting, a scan, a self-test round)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from cachemgr.core.procs import TimedOut, wait_until

T = TypeVar("T")


class NotEventually(TimedOut, AssertionError):
    """What eventually fails the test with: the condition did not hold within its time."""


def eventually(
    condition: Callable[[], T],
    timeout: float,
    interval: float = 0.5,
    message: str | Callable[[], object] = "",
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Call condition until it returns a truthy value, and return that value (cachemgr.core.procs.wait_until).

    It is called at once, then every interval seconds; when timeout seconds have passed and it still returned a
    falsy value, the test fails with message (or what message() returns, computed then) and the last value.
    An exception of a type in ignore counts as "not yet", and the last one is chained to the failure: an
    assertion in condition with ignore=(AssertionError,) says what is still missing. Any other exception,
    such as an assertion that the server under test is still running, fails the test at once, and so does a
    nested eventually that gave up: it has already waited its own time.
    """
    __tracebackhide__ = True  # pytest shows the test's line and the condition's, not the loop

    def said() -> object:
        return (message() if callable(message) else message) or "the condition did not hold"

    return wait_until(condition, timeout, interval, said, ignore, error=NotEventually)
