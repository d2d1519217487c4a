"""Every supervisord program: up, start time, restarts, and (psutil) memory, CPU, open fds, threads.

When supervisord does not answer the collector fails (cachemgr_scrape_collector_success{collector="processes"} 0):
program states are unknown, which the CacheSupervisordDown alert says.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psutil
from prometheus_client.core import CounterMetricFamily, Metric

from cachemgr.runtime import supervisor_rpc
from cachemgr.stats.collectors import Collector, Family
from cachemgr.stats.settings import Settings

PROGRAM = ("program",)
UP = Family("cachemgr_process_up", "1 when the program is RUNNING", PROGRAM)
STARTED = Family("cachemgr_process_start_time_seconds", "When the program last started", PROGRAM)
RESTARTS = Family("cachemgr_process_restarts", "Unexpected exits (each one restarted)", PROGRAM, CounterMetricFamily)
RSS = Family("cachemgr_process_resident_memory_bytes", "Resident memory", PROGRAM)
CPU = Family("cachemgr_process_cpu_seconds", "User + system CPU time", PROGRAM, CounterMetricFamily)
FDS = Family("cachemgr_process_open_fds", "Open file descriptors", PROGRAM)
THREADS = Family("cachemgr_process_threads", "Threads", PROGRAM)


class ProcessesCollector(Collector):
    FAMILIES = (UP, STARTED, RESTARTS, RSS, CPU, FDS, THREADS)

    def __init__(self, supervisor_url: str, events_file: Path):
        self.supervisor_url = supervisor_url
        self.events_file = events_file

    @classmethod
    def from_settings(cls, settings: Settings) -> ProcessesCollector:
        return cls(supervisor_rpc.url(settings.run), settings.run.process_exits)

    def collect(self) -> Iterator[Metric]:
        try:
            programs = supervisor_rpc.programs_at(self.supervisor_url)
        except OSError as e:
            raise OSError(f"supervisord at {self.supervisor_url}: {e.strerror or e}") from None
        try:  # not read_json: lenient on purpose, a bad or half-written events file must not fail the collector
            exits = json.loads(self.events_file.read_text())["programs"]
        except (OSError, ValueError, KeyError):
            exits = {}  # no exit counted yet; restart counts must not cost the program states
        up, started, restarts, rss, cpu, fds, threads = UP(), STARTED(), RESTARTS(), RSS(), CPU(), FDS(), THREADS()
        for name, info in sorted(programs.items()):
            up.add_metric([name], 1 if info["statename"] == "RUNNING" else 0)
            restarts.add_metric([name], exits.get(name, {}).get("unexpected_exits", 0))
            if info["statename"] != "RUNNING" or not info["pid"]:
                continue
            started.add_metric([name], info["start"])
            try:
                proc = psutil.Process(info["pid"])
                with proc.oneshot():
                    times = proc.cpu_times()
                    rss.add_metric([name], proc.memory_info().rss)
                    cpu.add_metric([name], times.user + times.system)
                    fds.add_metric([name], proc.num_fds())
                    threads.add_metric([name], proc.num_threads())
            except psutil.Error:  # it exited between supervisord's answer and this look: next scrape
                continue
        yield from (up, started, restarts, rss, cpu, fds, threads)
