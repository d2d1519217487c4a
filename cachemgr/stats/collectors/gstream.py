"""The pfc g-stream's running totals (stats/streams.py): bytes read through the cache by namespace prefix."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric

from cachemgr.stats.collectors import Collector, Family
from cachemgr.stats.settings import Settings
from cachemgr.stats.streams import GstreamTotals
from cachemgr.stats.udp import UdpListener

PACKETS = Family("cachemgr_gstream_packets", "g-stream packets received.", kind=CounterMetricFamily)
BAD = Family("cachemgr_gstream_bad_packets", "g-stream packets that could not be parsed.", kind=CounterMetricFamily)
EVENTS = Family("cachemgr_gstream_file_close_events", "File close events received.", kind=CounterMetricFamily)
# Pelican's name and type (a gauge that only rises): OSDF dashboards use rate() on it.
ACCESS = Family(
    "xrootd_cache_access_bytes",
    "Bytes read through the cache by namespace prefix: hit (from disk), miss (fetched), bypass.",
    ("path", "type"),
)


class GstreamCollector(Collector):
    FAMILIES = (PACKETS, BAD, EVENTS, ACCESS)

    def __init__(self, totals: GstreamTotals, listener: UdpListener | None = None):
        self.totals = totals
        self.listener = listener

    @classmethod
    def from_settings(cls, settings: Settings) -> GstreamCollector:
        totals = GstreamTotals(settings.scan_depth)
        return cls(totals, UdpListener(settings.gstream_port, totals.handle))

    def close(self) -> None:
        if self.listener is not None:
            self.listener.close()

    def collect(self) -> Iterator[Metric]:
        snap = self.totals.snapshot()
        yield PACKETS(snap.packets)
        yield BAD(snap.bad)
        yield EVENTS(snap.events)
        access = ACCESS()
        for (path, kind), n in sorted(snap.bytes.items()):
            access.add_metric([path, kind], n)
        yield access
