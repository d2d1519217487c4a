"""xrootd's monitoring streams over UDP, parsed into running totals: the summary stream and the pfc g-stream.

Summary (`xrd.report`): one XML document per datagram, counters cumulative since the process started. They are
kept as running totals of per-process deltas, so they keep rising across an xrootd restart (a new pid or start
time starts a new baseline) instead of dropping back.

g-stream (`xrootd.mongstream pfc ... send json`): one datagram is NUL-terminated JSON lines, a header line then
one `file_close` event per line, with the hit/miss/bypass bytes of that access. On 5.5.3 and 5.8.1 this is where
real per-access hit and miss bytes come from (the summary's cache section is zeros; on 5.8.1 its store and mem sizes
too). 5.8.1's file_close adds `b_todisk` and `b_prefetch`, not read here. A read served from blocks prefetched for it
counts as hit on both versions: a first read with prefetch on can show no miss at all.

A UdpListener thread calls handle(); a collector reads snapshot() at scrape time. Bad packets are counted,
never raised.
"""

from __future__ import annotations

import json
import re
import threading
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass
from typing import Generic, TypeVar

_NUMBER = re.compile(r"\s*(\d+(?:\.\d+)?)")
# cumulative counter name -> path in the packet ("stats id/child/grandchild")
_SUMMARY_PATHS = {
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
GSTREAM_KINDS = (("hit", "b_hit"), ("miss", "b_miss"), ("bypass", "b_bypass"))  # label -> event field


class BadPacket(ValueError):
    pass


def prefix(path: str, depth: int) -> str:
    """The namespace prefix of a file path, at most depth directories deep: label values stay bounded."""
    parts = [p for p in path.split("/")[:-1] if p][:depth]
    return "/" + "/".join(parts)


Parsed = TypeVar("Parsed")


class _Stream(Generic[Parsed]):
    """Packets counted, good ones folded into the totals, under one lock: a scrape sees each packet once."""

    def __init__(self) -> None:
        self.packets = 0
        self.bad = 0
        self._lock = threading.Lock()

    def parse(self, data: bytes) -> Parsed:
        raise NotImplementedError

    def _update(self, parsed: Parsed) -> None:
        raise NotImplementedError

    def handle(self, data: bytes) -> None:
        try:
            parsed: Parsed | None = self.parse(data)
        except BadPacket:
            parsed = None
        with self._lock:
            self.packets += 1
            if parsed is None:
                self.bad += 1
            else:
                self._update(parsed)


# --- summary ---


@dataclass(frozen=True)
class Packet:
    instance: str
    process: tuple[str, str, str]  # src, pid, tos: a restart changes pid and tos
    tod: float
    values: dict[str, float]


# The paths split once: Element.find of a plain tag runs in C, a path with "/" goes through Python's ElementPath.
_PATHS = {name: (path.split("/")[0], path.split("/")[1:]) for name, path in _SUMMARY_PATHS.items()}


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


def parse_summary(data: bytes) -> Packet:
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


@dataclass(frozen=True)
class SummarySnapshot:
    packets: int
    bad: int
    totals: dict[str, dict[str, float]]  # instance -> COUNTERS name -> running total
    gauges: dict[str, dict[str, float]]  # instance -> GAUGES name (or "cpu", a rate) -> the latest value


class SummaryTotals(_Stream[Packet]):
    def __init__(self) -> None:
        super().__init__()
        self.totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.gauges: dict[str, dict[str, float]] = {}
        self._last: dict[str, _Process] = {}  # per instance: the latest process seen

    def parse(self, data: bytes) -> Packet:
        return parse_summary(data)

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

    def snapshot(self) -> SummarySnapshot:
        with self._lock:
            return SummarySnapshot(
                self.packets,
                self.bad,
                {ins: dict(t) for ins, t in self.totals.items()},
                {ins: dict(g) for ins, g in self.gauges.items()},
            )


# --- g-stream ---


def _label(value: str) -> str:
    # JSON may carry a lone surrogate ("\ud800"): as a label value it would make every later scrape fail.
    value.encode()  # UnicodeEncodeError is a ValueError: a bad packet
    return value


def _bytes(value: object) -> int:
    # XRootD sends long longs; a bigger int would make every later scrape fail (not convertible to float).
    n = int(value)  # type: ignore[call-overload]
    if not 0 <= n < 1 << 63:
        raise ValueError(f"byte count {n} out of range")
    return n


@dataclass(frozen=True)
class Closes:
    """The file_close events of one g-stream packet."""

    events: int
    bytes: list[tuple[str, str, int]]  # (namespace prefix, kind, bytes), kinds of GSTREAM_KINDS


def parse_gstream(data: bytes, depth: int) -> Closes:
    try:
        lines = [json.loads(line) for line in data.rstrip(b"\0").splitlines() if line.strip()]
        if not lines or not all(isinstance(e, dict) for e in lines):
            raise BadPacket("not JSON objects")
        events = [e for e in lines[1:] if e.get("event") == "file_close"]
        adds = [(_label(prefix(e["lfn"], depth)), kind, _bytes(e[key])) for e in events for kind, key in GSTREAM_KINDS]
    # RecursionError: deeply nested JSON; OverflowError: int() of Infinity, which json accepts.
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError, OverflowError) as e:
        raise BadPacket(str(e)) from None
    return Closes(len(events), adds)


@dataclass(frozen=True)
class GstreamSnapshot:
    packets: int
    bad: int
    events: int
    bytes: dict[tuple[str, str], int]  # (namespace prefix, kind) -> bytes


class GstreamTotals(_Stream[Closes]):
    def __init__(self, depth: int) -> None:
        super().__init__()
        self.depth = depth
        self.events = 0
        self.bytes: dict[tuple[str, str], int] = defaultdict(int)

    def parse(self, data: bytes) -> Closes:
        return parse_gstream(data, self.depth)

    def _update(self, closes: Closes) -> None:
        self.events += closes.events
        for path, kind, n in closes.bytes:
            self.bytes[path, kind] += n

    def snapshot(self) -> GstreamSnapshot:
        with self._lock:
            return GstreamSnapshot(self.packets, self.bad, self.events, dict(self.bytes))
