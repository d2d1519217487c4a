"""The XRootD summary stream (`xrd.report`): one XML document per UDP datagram, counters cumulative since start.

Counters are kept as running totals of per-process deltas, so they keep rising across an xrootd restart
(a new pid or start time starts a new baseline) instead of dropping back. Metric names follow Pelican's
exporter where it has them, with an `xrootd_instance` label (the node's noauth and auth instances both report).
"""

from __future__ import annotations

import re
import threading
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, UnknownMetricFamily

_NUMBER = re.compile(r"\s*(\d+(?:\.\d+)?)")
# cumulative counter name -> path in the packet ("stats id/child/grandchild")
FIELDS = {
    "rx": "link/in",
    "tx": "link/out",
    "connections": "link/tot",
    "usr_s": "proc/usr/s",
    "usr_u": "proc/usr/u",
    "sys_s": "proc/sys/s",
    "sys_u": "proc/sys/u",
    "threads": "sched/threads",
    "idle": "sched/idle",
    "jobs": "sched/jobs",
    "inq": "sched/inq",
}
COUNTERS = ("rx", "tx", "connections", "cpu_user", "cpu_system")
GAUGES = ("threads", "idle", "jobs", "inq")


class BadPacket(ValueError):
    pass


@dataclass(frozen=True)
class Packet:
    instance: str
    process: tuple[str, str, str]  # src, pid, tos: a restart changes pid and tos
    tod: float
    values: dict[str, float]


# FIELDS split once: Element.find of a plain tag runs in C, a path with "/" goes through Python's ElementPath.
_PATHS = {name: (path.split("/")[0], path.split("/")[1:]) for name, path in FIELDS.items()}


def _number(text: str | None) -> float | None:
    if text and text.isascii() and text.isdigit():
        return float(text)  # the usual case, without the regex
    # Lenient: XRootD 5.5.3 writes <hits>0></hits>; take the leading number and ignore the rest.
    m = _NUMBER.match(text or "")
    return float(m[1]) if m else None


def _find(el: ET.Element, tags: list[str]) -> ET.Element | None:
    """el.find("a/b") (the first b under any a) without ElementPath."""
    if len(tags) == 1:
        return el.find(tags[0])
    for child in el:
        if child.tag == tags[0] and (found := _find(child, tags[1:])) is not None:
            return found
    return None


def parse(data: bytes) -> Packet:
    try:
        root = ET.fromstring(data.rstrip(b"\0"))
    except ET.ParseError as e:
        raise BadPacket(f"not XML: {e}") from None
    if root.tag != "statistics":
        raise BadPacket(f"root element {root.tag!r}")
    sections = {s.get("id"): s for s in root.iter("stats")}
    values = {}
    for name, (section, rest) in _PATHS.items():
        el = sections.get(section)
        el = _find(el, rest) if el is not None else None
        value = _number(el.text) if el is not None else None
        if value is not None:
            values[name] = value
    # CPU time comes as seconds and microseconds: join them before taking deltas, or the microseconds wrap.
    for mode in ("usr", "sys"):
        if f"{mode}_s" in values:
            values[f"cpu_{'user' if mode == 'usr' else 'system'}"] = (
                values.pop(f"{mode}_s") + values.pop(f"{mode}_u", 0.0) / 1e6
            )
    tod = _number(root.get("tod"))
    if tod is None:
        raise BadPacket("no tod")
    return Packet(
        root.get("ins") or root.get("pgm") or "xrootd",
        (root.get("src", ""), root.get("pid", ""), root.get("tos", "")),
        tod,
        values,
    )


@dataclass
class _Process:
    key: tuple[str, str, str]
    tod: float
    values: dict[str, float]


@dataclass(eq=False)  # registries hash collectors
class SummaryCollector:
    packets: int = 0
    bad: int = 0
    totals: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(float)))
    gauges: dict[str, dict[str, float]] = field(default_factory=dict)
    _last: dict[str, _Process] = field(default_factory=dict)  # per instance: the latest process seen
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, data: bytes) -> None:
        try:
            packet: Packet | None = parse(data)
        except BadPacket:
            packet = None
        with self._lock:
            self.packets += 1
            if packet is None:
                self.bad += 1
            else:
                self._update(packet)

    def _update(self, p: Packet) -> None:
        last = self._last.get(p.instance)
        same = last is not None and last.key == p.process
        totals = self.totals[p.instance]
        for name in COUNTERS:
            if name not in p.values:
                continue
            before = last.values.get(name, 0.0) if same else 0.0
            cur = p.values[name]
            totals[name] += cur - before if cur >= before else cur  # a drop without a new pid: a reset
        gauges = {name: p.values[name] for name in GAUGES if name in p.values}
        if same and p.tod > last.tod:
            used = sum(p.values.get(k, 0.0) - last.values.get(k, 0.0) for k in ("cpu_user", "cpu_system"))
            gauges["cpu"] = max(used / (p.tod - last.tod), 0.0)
        self.gauges[p.instance] = gauges
        self._last[p.instance] = _Process(p.process, p.tod, {**(last.values if same else {}), **p.values})

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            totals = {ins: dict(t) for ins, t in self.totals.items()}
            gauges = {ins: dict(g) for ins, g in self.gauges.items()}
            packets, bad = self.packets, self.bad
        yield CounterMetricFamily(
            "xrootd_monitoring_packets_received", "Summary stream packets received.", value=packets
        )
        yield CounterMetricFamily(
            "cachemgr_report_bad_packets", "Summary (xrd.report) packets that could not be parsed.", bad
        )
        ins = ["xrootd_instance"]
        fams = {
            "bytes": CounterMetricFamily(
                "xrootd_server_bytes", "Bytes the server received (rx) and sent (tx).", labels=[*ins, "direction"]
            ),
            "conn": CounterMetricFamily("xrootd_server_connections", "Client connections accepted.", labels=ins),
            "cpu_s": CounterMetricFamily(
                "cachemgr_xrootd_cpu_seconds", "CPU time used by xrootd.", labels=[*ins, "mode"]
            ),
            # Pelican's name, which OSDF dashboards query; as a gauge promtool would lint its "_count" suffix,
            # untyped it does not (PromQL treats both alike).
            "threads": UnknownMetricFamily(
                "xrootd_sched_thread_count", "Scheduler threads by state.", labels=[*ins, "state"]
            ),
            "jobs": GaugeMetricFamily("xrootd_sched_jobs", "Scheduler jobs (as the last packet tells).", labels=ins),
            "inq": GaugeMetricFamily("xrootd_sched_queued", "Scheduler jobs waiting for a thread.", labels=ins),
            "cpu": GaugeMetricFamily(
                "xrootd_cpu_utilization", "CPU seconds per second between the last two packets.", labels=ins
            ),
        }
        for name, t in sorted(totals.items()):
            fams["bytes"].add_metric([name, "rx"], t.get("rx", 0.0))
            fams["bytes"].add_metric([name, "tx"], t.get("tx", 0.0))
            fams["conn"].add_metric([name], t.get("connections", 0.0))
            fams["cpu_s"].add_metric([name, "user"], t.get("cpu_user", 0.0))
            fams["cpu_s"].add_metric([name, "system"], t.get("cpu_system", 0.0))
        for name, g in sorted(gauges.items()):
            if "threads" in g and "idle" in g:
                fams["threads"].add_metric([name, "idle"], g["idle"])
                fams["threads"].add_metric([name, "running"], g["threads"] - g["idle"])
            for key in ("jobs", "inq", "cpu"):
                if key in g:
                    fams[key].add_metric([name], g[key])
        yield from fams.values()
