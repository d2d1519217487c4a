"""The pfc g-stream (`xrootd.mongstream pfc ... send json`): per-file close events with hit/miss/bypass bytes.

On 5.5.3 this is where real per-access hit and miss bytes come from (the summary's cache section is zeros).
One datagram is NUL-terminated JSON lines: a header line, then one `file_close` event per line.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from cachemgr.stats.collectors import prefix

KINDS = (("hit", "b_hit"), ("miss", "b_miss"), ("bypass", "b_bypass"))


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


class GstreamCollector:
    def __init__(self, depth: int):
        self.depth = depth
        self.packets = 0
        self.bad_packets = 0
        self.events = 0
        self.bytes: dict[tuple[str, str], int] = defaultdict(int)  # (prefix, kind) -> bytes
        self._lock = threading.Lock()

    def handle(self, data: bytes) -> None:
        try:
            lines = [json.loads(line) for line in data.rstrip(b"\0").splitlines() if line.strip()]
            if not lines or not all(isinstance(e, dict) for e in lines):
                raise ValueError("not JSON objects")
            events = [e for e in lines[1:] if e.get("event") == "file_close"]
            adds = [(_label(prefix(e["lfn"], self.depth)), kind, _bytes(e[key])) for e in events for kind, key in KINDS]
        # RecursionError: deeply nested JSON; OverflowError: int() of Infinity, which json accepts.
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError, OverflowError):
            events, adds = None, []
        with self._lock:
            self.packets += 1
            if events is None:
                self.bad_packets += 1
                return
            self.events += len(events)
            for path, kind, n in adds:
                self.bytes[path, kind] += n

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            counts = sorted(self.bytes.items())
            packets, bad, events = self.packets, self.bad_packets, self.events
        yield CounterMetricFamily("cachemgr_gstream_packets", "g-stream packets received.", packets)
        yield CounterMetricFamily("cachemgr_gstream_bad_packets", "g-stream packets that could not be parsed.", bad)
        yield CounterMetricFamily("cachemgr_gstream_file_close_events", "File close events received.", events)
        # Pelican's name and type (a gauge that only rises): OSDF dashboards use rate() on it.
        family = GaugeMetricFamily(
            "xrootd_cache_access_bytes",
            "Bytes read through the cache by namespace prefix: hit (from disk), miss (fetched), bypass.",
            labels=["path", "type"],
        )
        for (path, kind), n in counts:
            family.add_metric([path, kind], n)
        yield family
