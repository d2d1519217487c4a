"""Every supervisord program: up, start time, restarts, and (psutil) memory, CPU, open fds, threads."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psutil
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from cachemgr.runtime import supervisor_rpc


class ProcessesCollector:
    def __init__(self, supervisor_url: str, events_file: Path):
        self.supervisor_url = supervisor_url
        self.events_file = events_file

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("cachemgr_supervisor_up", "1 when supervisord answers")
        try:
            programs = supervisor_rpc.programs_at(self.supervisor_url)
        except OSError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        try:
            exits = json.loads(self.events_file.read_text())["programs"]
        except (OSError, ValueError, KeyError):
            exits = {}
        running = GaugeMetricFamily("cachemgr_process_up", "1 when the program is RUNNING", labels=["program"])
        started = GaugeMetricFamily(
            "cachemgr_process_start_time_seconds", "When the program last started", labels=["program"]
        )
        restarts = CounterMetricFamily(
            "cachemgr_process_restarts", "Unexpected exits (each one restarted)", labels=["program"]
        )
        rss = GaugeMetricFamily("cachemgr_process_resident_memory_bytes", "Resident memory", labels=["program"])
        cpu = CounterMetricFamily("cachemgr_process_cpu_seconds", "User + system CPU time", labels=["program"])
        fds = GaugeMetricFamily("cachemgr_process_open_fds", "Open file descriptors", labels=["program"])
        threads = GaugeMetricFamily("cachemgr_process_threads", "Threads", labels=["program"])
        for name, info in sorted(programs.items()):
            running.add_metric([name], 1 if info["statename"] == "RUNNING" else 0)
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
        yield from (running, started, restarts, rss, cpu, fds, threads)
