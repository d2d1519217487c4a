"""An exporter's metrics: scraped over HTTP, or collected in-process; read as {(name, labels): value}."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

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
    """/metrics of an exporter that may still be starting: tried again for up to wait seconds (0: once)."""

    def get() -> str:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode()

    return eventually(get, wait, message=f"no exporter at {url}", ignore=(OSError,))
