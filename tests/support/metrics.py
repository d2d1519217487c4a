"""An exporter's metrics: scraped over HTTP, or collected in-process; read as {(name, labels): value}."""

from __future__ import annotations

import urllib.request

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from support.wait import eventually

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    """Prometheus text -> {(name, sorted labels): value}."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(url: str, wait: float = 30) -> str:
    """/metrics of an exporter (answering 200) that may still be starting: tried again for up to wait seconds (0:
    once)."""

    def get() -> str:
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200, response.status
            return response.read().decode()

    return eventually(get, wait, message=f"no exporter at {url}", ignore=(OSError,))


def collect(collector: Collector) -> Samples:
    """The samples one collector (or a registry's Scrape) gives, as an exporter would serve them."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    return samples(generate_latest(registry).decode())


def value(got: Samples, name: str, **labels: str) -> float | None:
    """The sample with exactly these labels; None when there is none."""
    return got.get((name, tuple(sorted(labels.items()))))


def by_label(got: Samples, name: str, label: str) -> dict[str, float]:
    """The samples of one name by the value of one of their labels: {collector: 1, ...}."""
    return {dict(labels)[label]: v for (n, labels), v in got.items() if n == name}
