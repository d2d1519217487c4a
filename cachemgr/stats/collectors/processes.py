"""Every supervisord program: up, start time, restarts, and (psutil) memory, CPU, open fds and their limit, threads;
and the container's memory limit, which their memory adds up against (the leak alerts compare with both limits).

When supervisord does not answer the collector fails (cachemgr_scrape_collector_success{collector="processes"} 0):
program states are unknown, which the CacheSupervisordDown alert says.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psutil
from prometheus_client.core import CounterMetricFamily, Metric

from cachemgr.core import supervisor_rpc
from cachemgr.stats.collectors import Collector, Family
from cachemgr.stats.settings import Settings

PROGRAM = ("program",)
UP = Family("cachemgr_process_up", "1 when the program is RUNNING", PROGRAM)
STARTED = Family("cachemgr_process_start_time_seconds", "When the program last started", PROGRAM)
RESTARTS = Family("cachemgr_process_restarts", "Unexpected exits (each one restarted)", PROGRAM, CounterMetricFamily)
RSS = Family("cachemgr_process_resident_memory_bytes", "Resident memory", PROGRAM)
CPU = Family("cachemgr_process_cpu_seconds", "User + system CPU time", PROGRAM, CounterMetricFamily)
FDS = Family("cachemgr_process_open_fds", "Open file descriptors", PROGRAM)
MAX_FDS = Family("cachemgr_process_max_fds", "Open file descriptor limit (soft RLIMIT_NOFILE)", PROGRAM)
THREADS = Family("cachemgr_process_threads", "Threads", PROGRAM)
MEMORY_LIMIT = Family("cachemgr_memory_limit_bytes", "The cache container's memory limit (k8s.memory_limit)", ())


def fd_limit(pid: int) -> int | None:
    """The process's soft open-file limit; None when unlimited. From /proc, which anyone may read: prlimit(2), what
    psutil uses, refuses another user's process (xrootd) to a root without CAP_SYS_RESOURCE, as in a container."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft = line.split()[3]
            return None if soft == "unlimited" else int(soft)
    return None


class ProcessesCollector(Collector):
    FAMILIES = (UP, STARTED, RESTARTS, RSS, CPU, FDS, MAX_FDS, THREADS, MEMORY_LIMIT)

    def __init__(self, supervisor_url: str, events_file: Path, memory_limit: int | None = None):
        self.supervisor_url = supervisor_url
        self.events_file = events_file
        self.memory_limit = memory_limit

    @classmethod
    def from_settings(cls, settings: Settings) -> ProcessesCollector:
        return cls(supervisor_rpc.url(settings.run), settings.run.process_exits, settings.memory_limit)

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
        max_fds = MAX_FDS()
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
                limit = fd_limit(info["pid"])
            except (psutil.Error, FileNotFoundError):  # it exited between supervisord's answer and this look
                continue
            if limit is not None:
                max_fds.add_metric([name], limit)
        yield from (up, started, restarts, rss, cpu, fds, max_fds, threads)
        if self.memory_limit:
            yield MEMORY_LIMIT(self.memory_limit)
