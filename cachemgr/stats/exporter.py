"""`cachemgr exporter`: the node's Prometheus exporter, serving the collectors of stats/registry.py.

Collectors with inputs of their own start them when built: the cache scan its background thread (a scrape never
waits for a scan), the stream collectors their UDP listeners on 127.0.0.1 (the cache's xrootd instances report to
the local exporter).
"""

from __future__ import annotations

import signal
import sys
import threading

from prometheus_client import CollectorRegistry, start_http_server

from cachemgr.core import procs
from cachemgr.stats import registry
from cachemgr.stats.settings import Settings


class Exporter:
    def __init__(self, settings: Settings):
        host, port = settings.address
        self.collectors = registry.build(settings)
        try:
            # Registering calls Scrape.describe(), not collect(): a name served twice is refused, nothing is read.
            self.registry = CollectorRegistry(auto_describe=False)
            self.registry.register(registry.Scrape(self.collectors))
            self.http, _ = start_http_server(port, host, self.registry)
        except BaseException:
            registry.close(self.collectors)
            raise

    @property
    def url(self) -> str:
        host, port = self.http.server_address[:2]
        return f"http://{host}:{port}/metrics"

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        registry.close(self.collectors)


def run(settings: Settings) -> int:
    if not settings.cache_root.is_dir():
        print(f"cachemgr exporter: {settings.cache_root}: not a directory (cache_root)", file=sys.stderr)
        return 1
    try:
        exporter = Exporter(settings)
    except ValueError as e:
        print(f"cachemgr exporter: {e}", file=sys.stderr)
        return 1
    stop = threading.Event()
    procs.on_signals((signal.SIGTERM, signal.SIGINT), lambda _: stop.set())
    print(f"METRICS={exporter.url}", flush=True)  # the port actually bound: tests and admins read it
    stop.wait()
    exporter.stop()
    return 0
