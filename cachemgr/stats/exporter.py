"""`cachemgr exporter`: the node's Prometheus exporter, one registry of custom collectors.

The cache scan runs in a background thread and /metrics reads its last snapshot, so a scrape never waits
for a scan. The UDP listeners bind 127.0.0.1 only: the cache's xrootd instances report to the local exporter.
"""

from __future__ import annotations

import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server

from cachemgr.runtime import supervisor_rpc
from cachemgr.stats.collectors.cache_scan import CacheScan, CacheScanCollector
from cachemgr.stats.collectors.credentials import CredentialsCollector
from cachemgr.stats.collectors.filesystem import FilesystemCollector
from cachemgr.stats.collectors.gstream import GstreamCollector
from cachemgr.stats.collectors.health import HealthCollector
from cachemgr.stats.collectors.processes import ProcessesCollector
from cachemgr.stats.collectors.summary import SummaryCollector
from cachemgr.stats.collectors.tasks import TasksCollector
from cachemgr.stats.udp import UdpListener


@dataclass
class Options:
    cache_root: Path
    listen: tuple[str, int]
    summary_port: int
    gstream_port: int
    state_file: Path
    disks: list[Path] = field(default_factory=list)
    meta_disks: list[Path] = field(default_factory=list)
    scan_depth: int = 2
    scan_interval: float = 300.0
    certs: dict[str, Path] = field(default_factory=dict)  # kind -> file
    ca_dir: Path | None = None
    run_dir: Path | None = None  # the pod's paths.run: self-test results and process exit counts
    supervisor_url: str | None = None


class Exporter:
    def __init__(self, opts: Options):
        self.opts = opts
        self.stop_event = threading.Event()
        # No describe() on the collectors and no auto-describe: registering collects nothing (no scan, no I/O).
        self.registry = CollectorRegistry(auto_describe=False)
        self.scan = CacheScan(opts.cache_root, opts.scan_depth)
        self.summary = SummaryCollector()
        self.gstream = GstreamCollector(opts.scan_depth)
        disks = {"data": [str(d) for d in opts.disks or [opts.cache_root]], "meta": [str(d) for d in opts.meta_disks]}
        for collector in (
            CacheScanCollector(self.scan),
            FilesystemCollector(disks),
            self.summary,
            self.gstream,
            TasksCollector(opts.state_file),
            CredentialsCollector(opts.certs, opts.ca_dir),
        ):
            self.registry.register(collector)
        if opts.run_dir:
            self.registry.register(HealthCollector(opts.run_dir / "selftest.json"))
            server = opts.supervisor_url or supervisor_rpc.url(opts.run_dir)
            self.registry.register(ProcessesCollector(server, opts.run_dir / "processes.json"))
        self.listeners = [UdpListener(opts.summary_port, self.summary.handle)]
        self.listeners.append(UdpListener(opts.gstream_port, self.gstream.handle))
        self.scanner = threading.Thread(
            target=self.scan.run, args=(opts.scan_interval, self.stop_event), name="cache-scan", daemon=True
        )
        self.scanner.start()
        self.http, _ = start_http_server(opts.listen[1], opts.listen[0], self.registry)

    @property
    def url(self) -> str:
        host, port = self.http.server_address[:2]
        return f"http://{host}:{port}/metrics"

    def stop(self) -> None:
        self.stop_event.set()
        self.http.shutdown()
        self.http.server_close()
        for listener in self.listeners:
            listener.close()
        self.scanner.join(10)


def run(opts: Options) -> int:
    if not opts.cache_root.is_dir():
        print(f"cachemgr exporter: {opts.cache_root}: not a directory (--cache-root)", file=sys.stderr)
        return 1
    exporter = Exporter(opts)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    # One KEY=value per line, like the demo: tests and admins read the ports actually bound.
    print(f"METRICS={exporter.url}", flush=True)
    print(f"SUMMARY_PORT={exporter.listeners[0].port}\nGSTREAM_PORT={exporter.listeners[1].port}", flush=True)
    stop.wait()
    exporter.stop()
    return 0
