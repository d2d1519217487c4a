"""prometheus_client custom collectors, one concern each: at scrape time they turn a snapshot of their input into
metric families. Each declares the families it serves (FAMILIES): describe() returns them, so that the exporter's
registry refuses two collectors serving one name, and tests read the served names from there.

Each module of this package is one collector, named by the module; stats/registry.py finds them there and builds
each from the node's exporter settings by from_settings().
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

from prometheus_client.core import GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from cachemgr.stats.settings import Settings


@dataclass(frozen=True)
class Family:
    """One metric family a collector serves, declared once for describe() and collect()."""

    name: str
    doc: str
    labels: tuple[str, ...] = ()
    kind: Callable[..., Metric] = GaugeMetricFamily  # or CounterMetricFamily, UnknownMetricFamily

    def __call__(self, value: float | None = None) -> Metric:
        """An empty family to add samples to; with a value, the family with that one unlabelled sample."""
        if value is None:
            return self.kind(self.name, self.doc, labels=self.labels)
        return self.kind(self.name, self.doc, value)


def read_json(path: Path) -> Any:
    """A file another program of the pod writes; None while it does not exist yet."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from None  # the scrape's log line names the file


class Collector:
    FAMILIES: ClassVar[tuple[Family, ...]]

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        raise NotImplementedError

    @classmethod
    def describe(cls) -> list[Metric]:
        return [family() for family in cls.FAMILIES]

    def collect(self) -> Iterator[Metric]:
        raise NotImplementedError

    def close(self) -> None:
        """Stop what the collector runs in the background (a scan, a UDP listener); most run nothing."""
