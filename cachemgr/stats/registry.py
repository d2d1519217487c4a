"""The exporter's collectors by name, as node_exporter has them, and the scrape that runs them isolated.

A collector is one module of stats/collectors/, named by it and found there at import: there is no list to edit.
Each is built from the node's exporter settings and can be turned off by name (settings.disable). A collector that
raises costs only its own metrics: the scrape still answers with every other one, and says which
failed in cachemgr_scrape_collector_success{collector}; the exporter's log says why, once per change.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import threading
import time
import traceback
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client.core import Metric

import cachemgr
from cachemgr.stats import collectors
from cachemgr.stats.collectors import Collector, Family
from cachemgr.stats.settings import Settings


def _discover() -> dict[str, type[Collector]]:
    """Every module of the collectors package, by its name, with the one Collector it defines."""
    found: dict[str, type[Collector]] = {}
    for info in pkgutil.iter_modules(collectors.__path__):
        module = importlib.import_module(f"{collectors.__name__}.{info.name}")
        defined = [
            c
            for c in vars(module).values()
            if isinstance(c, type) and issubclass(c, Collector) and c.__module__ == module.__name__
        ]
        if len(defined) != 1:
            raise ImportError(f"{module.__name__} defines {len(defined)} collectors: a module is one collector")
        found[info.name] = defined[0]
    return found


COLLECTORS: dict[str, type[Collector]] = _discover()

SUCCESS = Family(
    "cachemgr_scrape_collector_success", "1 when the collector's input read and its metrics are here.", ("collector",)
)
DURATION = Family("cachemgr_scrape_collector_duration_seconds", "How long the collector took.", ("collector",))


def unknown(names: Iterable[str]) -> list[str]:
    """The names no collector has, sorted."""
    return sorted(set(names) - COLLECTORS.keys())


def build(settings: Settings) -> dict[str, Collector]:
    """The collectors settings.disable leaves on, built (a background scan or listener starts here)."""
    bad = unknown(settings.disable)
    if bad:
        raise ValueError(f"no collector named {', '.join(bad)} (there are: {', '.join(COLLECTORS)})")
    built: dict[str, Collector] = {}
    try:
        for name, cls in COLLECTORS.items():
            if name not in settings.disable:
                built[name] = cls.from_settings(settings)
    except BaseException:
        close(built)
        raise
    return built


def close(collectors: dict[str, Collector]) -> None:
    for collector in collectors.values():
        collector.close()


_OURS = str(Path(cachemgr.__file__).parent)


def _reason(e: Exception) -> str:
    """The exception and the line of ours that met it (json's or xmlrpc's own line would tell little)."""
    # walk_tb, not extract_tb: no source line lookups on every scrape of a failing collector
    filename, lineno = [
        (f.f_code.co_filename, lineno)
        for f, lineno in traceback.walk_tb(e.__traceback__)
        if f.f_code.co_filename.startswith(_OURS)
    ][-1]
    return f"{type(e).__name__}: {e} ({Path(filename).name}:{lineno})"


class Scrape:
    """The one collector the exporter registers: every built collector, each one's failure caught."""

    FAMILIES = (SUCCESS, DURATION)

    def __init__(self, collectors: dict[str, Collector]):
        self.collectors = collectors
        self._failures: dict[str, str | None] = {}  # collector -> why its last scrape failed
        self._lock = threading.Lock()  # scrapes may run in parallel (one HTTP thread each)

    def describe(self) -> list[Metric]:
        return [m for c in self.collectors.values() for m in c.describe()] + [f() for f in self.FAMILIES]

    def collect(self) -> Iterator[Metric]:
        success, duration = SUCCESS(), DURATION()
        for name, collector in self.collectors.items():
            start = time.perf_counter()
            try:
                # All or nothing: a collector that fails half-way must not leave half its families.
                metrics, failure = list(collector.collect()), None
            except Exception as e:  # its input or its bug: either way, not the other collectors' business
                metrics, failure = [], _reason(e)
            duration.add_metric([name], time.perf_counter() - start)
            success.add_metric([name], failure is None)
            self._log(name, failure)
            yield from metrics
        yield from (success, duration)

    def _log(self, name: str, failure: str | None) -> None:
        with self._lock:
            if self._failures.get(name) == failure:
                return
            before, self._failures[name] = self._failures.get(name), failure
        if failure is not None:
            print(f"cachemgr exporter: collector {name} failed: {failure}", file=sys.stderr, flush=True)
        elif before is not None:
            print(f"cachemgr exporter: collector {name} works again", file=sys.stderr, flush=True)
