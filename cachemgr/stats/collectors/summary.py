"""The XRootD summary stream's running totals (stats/streams.py), per xrootd instance.

Metric names follow Pelican's exporter where it has them, with an `xrootd_instance` label (the node's noauth
and auth instances both report).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric, UnknownMetricFamily

from cachemgr.stats.collectors import Collector, Family
from cachemgr.stats.settings import Settings
from cachemgr.stats.streams import SummaryTotals
from cachemgr.stats.udp import UdpListener

INS = ("xrootd_instance",)
PACKETS = Family("xrootd_monitoring_packets_received", "Summary stream packets received.", kind=CounterMetricFamily)
BAD = Family(
    "cachemgr_report_bad_packets", "Summary (xrd.report) packets that could not be parsed.", kind=CounterMetricFamily
)
BYTES = Family(
    "xrootd_server_bytes", "Bytes the server received (rx) and sent (tx).", (*INS, "direction"), CounterMetricFamily
)
CONNECTIONS = Family("xrootd_server_connections", "Client connections accepted.", INS, CounterMetricFamily)
CPU_SECONDS = Family("cachemgr_xrootd_cpu_seconds", "CPU time used by xrootd.", (*INS, "mode"), CounterMetricFamily)
# Pelican's name, which OSDF dashboards query; as a gauge promtool would lint its "_count" suffix, untyped it does
# not (PromQL treats both alike).
THREADS = Family("xrootd_sched_thread_count", "Scheduler threads by state.", (*INS, "state"), UnknownMetricFamily)
JOBS = Family("xrootd_sched_jobs", "Scheduler jobs (as the last packet tells).", INS)
QUEUED = Family("xrootd_sched_queued", "Scheduler jobs waiting for a thread.", INS)
CPU = Family("xrootd_cpu_utilization", "CPU seconds per second between the last two packets.", INS)


class SummaryCollector(Collector):
    FAMILIES = (PACKETS, BAD, BYTES, CONNECTIONS, CPU_SECONDS, THREADS, JOBS, QUEUED, CPU)

    def __init__(self, totals: SummaryTotals, listener: UdpListener | None = None):
        self.totals = totals
        self.listener = listener

    @classmethod
    def from_settings(cls, settings: Settings) -> SummaryCollector:
        totals = SummaryTotals()
        return cls(totals, UdpListener(settings.summary_port, totals.handle))

    def close(self) -> None:
        if self.listener is not None:
            self.listener.close()

    def collect(self) -> Iterator[Metric]:
        snap = self.totals.snapshot()
        yield PACKETS(snap.packets)
        yield BAD(snap.bad)
        nbytes, connections, cpu_seconds, threads = BYTES(), CONNECTIONS(), CPU_SECONDS(), THREADS()
        gauges = {"jobs": JOBS(), "inq": QUEUED(), "cpu": CPU()}
        for name, t in sorted(snap.totals.items()):
            nbytes.add_metric([name, "rx"], t.get("rx", 0.0))
            nbytes.add_metric([name, "tx"], t.get("tx", 0.0))
            connections.add_metric([name], t.get("connections", 0.0))
            cpu_seconds.add_metric([name, "user"], t.get("cpu_user", 0.0))
            cpu_seconds.add_metric([name, "system"], t.get("cpu_system", 0.0))
        for name, g in sorted(snap.gauges.items()):
            if "threads" in g and "idle" in g:
                threads.add_metric([name, "idle"], g["idle"])
                threads.add_metric([name, "running"], g["threads"] - g["idle"])
            for key, metric in gauges.items():
                if key in g:
                    metric.add_metric([name], g[key])
        yield from (nbytes, connections, cpu_seconds, threads, *gauges.values())
