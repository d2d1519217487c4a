"""Waiting for something that happens on its own clock (a daemon starting, a scan, a self-test round)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class NotEventually(AssertionError):
    """What eventually fails the test with: the condition did not hold within its time."""


def eventually(
    condition: Callable[[], T],
    timeout: float,
    interval: float = 0.5,
    message: str | Callable[[], object] = "",
    ignore: tuple[type[BaseException], ...] = (),
) -> T:
    """Call condition until it returns a truthy value, and return that value.

    It is called at once, then every interval seconds; when timeout seconds have passed and it still returned a
    falsy value, the test fails with message (or what message() returns, computed then) and the last value.
    An exception of a type in ignore counts as "not yet", and the last one is chained to the failure: an
    assertion in condition with ignore=(AssertionError,) says what is still missing. Any other exception,
    such as an assertion that the server under test is still running, fails the test at once, and so does a
    nested eventually that gave up: it has already waited its own time.
    """
    __tracebackhide__ = True  # pytest shows the test's line and the condition's, not this loop
    deadline = time.monotonic() + timeout
    while True:
        error: BaseException | None = None
        try:
            value = condition()
        except NotEventually:
            raise
        except ignore as e:
            value, error = None, e
        else:
            if value:
                return value
        if time.monotonic() >= deadline:
            said = (message() if callable(message) else message) or "the condition did not hold"
            last = f"{type(error).__name__}: {error}" if error is not None else repr(value)
            last = last if len(last) <= 500 else f"{last[:500]}…"  # a chained error is shown whole below
            raise NotEventually(f"{said} (still after {timeout:g} s; last: {last})") from error
        time.sleep(interval)
