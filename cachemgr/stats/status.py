"""`cachemgr status`: one screen per cache node, from its exporter or, for the fleet, from Prometheus.

Programs, certificate/proxy/CRL time left, last task runs, disk and inode use, hit ratio, self-test:
what an admin without ssh needs first. Everything comes from the metrics the exporter already serves.
"""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections import defaultdict
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.table import Table

# What the fleet view asks Prometheus for: every series the screen uses.
# Shown red below these, as the ProxyExpiring and HostCertExpiring alerts (k8s/monitoring/alerts.yml) fire.
PROXY_WARN, HOST_CERT_WARN = 12 * 3600, 14 * 86400
FLEET_QUERY = '{__name__=~"cachemgr_(process|certificate|crl|task|filesystem|selftest|cache_read)_.+"}'


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


class StatusError(Exception):
    pass


def _get(url: str, timeout: float) -> str:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read().decode()
    except (OSError, ValueError) as e:
        raise StatusError(f"{url}: {getattr(e, 'reason', e)}") from None


def from_exporter(url: str, timeout: float = 10) -> dict[str, list[Sample]]:
    samples = [
        Sample(s.name, dict(s.labels), s.value)
        for family in text_string_to_metric_families(_get(url, timeout))
        for s in family.samples
    ]
    return {"local": samples}


def from_prometheus(url: str, timeout: float = 10) -> dict[str, list[Sample]]:
    query = urllib.parse.urlencode({"query": FLEET_QUERY})
    answer = json.loads(_get(f"{url.rstrip('/')}/api/v1/query?{query}", timeout))
    if answer.get("status") != "success":
        raise StatusError(f"{url}: {answer.get('error', 'query failed')}")
    nodes: dict[str, list[Sample]] = defaultdict(list)
    for series in answer["data"]["result"]:
        labels = dict(series["metric"])
        name = labels.pop("__name__")
        node = labels.get("node") or labels.get("instance", "?")
        nodes[node].append(Sample(name, labels, float(series["value"][1])))
    return dict(sorted(nodes.items()))


def _ago(seconds: float) -> str:
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _by(samples: list[Sample], name: str, key: str) -> dict[str, float]:
    return {s.labels.get(key, ""): s.value for s in samples if s.name == name}


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    return table


def tables(node: str, samples: list[Sample], now: float) -> list[Table]:
    out = []
    programs = _table(f"{node}: programs", "program", "state", "uptime", "restarts", "memory")
    up = _by(samples, "cachemgr_process_up", "program")
    started = _by(samples, "cachemgr_process_start_time_seconds", "program")
    restarts = _by(samples, "cachemgr_process_restarts_total", "program")
    rss = _by(samples, "cachemgr_process_resident_memory_bytes", "program")
    for name in sorted(up):
        programs.add_row(
            name,
            "[green]up" if up[name] else "[red]DOWN",
            _ago(now - started[name]) if name in started else "-",
            f"{restarts.get(name, 0):.0f}",
            f"{rss[name] / 2**20:.0f} MiB" if name in rss else "-",
        )
    out.append(programs)

    creds = _table(f"{node}: credentials", "what", "expires in")
    for s in samples:
        if s.name == "cachemgr_certificate_not_after_timestamp_seconds":
            left = s.value - now
            limit = PROXY_WARN if s.labels.get("kind") == "proxy" else HOST_CERT_WARN
            creds.add_row(
                f"{s.labels.get('kind')} {s.labels.get('path', '')}",
                ("[red]" if left < limit else "[green]") + (_ago(left) if left > 0 else "EXPIRED"),
            )
        elif s.name == "cachemgr_crl_next_update_timestamp_seconds":
            left = s.value - now
            creds.add_row(f"CRL {s.labels.get('file')}", ("[green]" if left > 0 else "[red]STALE ") + _ago(left))
    out.append(creds)

    tasks = _table(f"{node}: scheduled tasks", "task", "last success", "last failure", "failures in a row")
    success = _by(samples, "cachemgr_task_last_success_timestamp_seconds", "task")
    failure = _by(samples, "cachemgr_task_last_failure_timestamp_seconds", "task")
    streak = _by(samples, "cachemgr_task_consecutive_failures", "task")
    for task in sorted(set(success) | set(failure) | set(streak)):
        tasks.add_row(
            task,
            _ago(now - success[task]) + " ago" if task in success else "never",
            _ago(now - failure[task]) + " ago" if task in failure else "-",
            ("[red]" if streak.get(task, 0) else "[green]") + f"{streak.get(task, 0):.0f}",
        )
    out.append(tasks)

    disks = _table(f"{node}: disks and cache", "path", "bytes used", "inodes used")
    size = _by(samples, "cachemgr_filesystem_size_bytes", "path")
    avail = _by(samples, "cachemgr_filesystem_avail_bytes", "path")
    files = _by(samples, "cachemgr_filesystem_files", "path")
    free = _by(samples, "cachemgr_filesystem_files_free", "path")
    for path in sorted(size):
        used = 1 - avail.get(path, 0) / size[path] if size[path] else 0
        inodes = 1 - free.get(path, 0) / files[path] if files.get(path) else 0
        disks.add_row(path, f"{used:.1%} of {size[path] / 2**40:.2f} TiB", f"{inodes:.1%}")
    read = defaultdict(float)
    for s in samples:
        if s.name == "cachemgr_cache_read_bytes":
            read[s.labels.get("type", "")] += s.value
    if read["hit"] + read["miss"]:
        disks.add_row("hit ratio (bytes, cached files)", f"{read['hit'] / (read['hit'] + read['miss']):.1%}", "")
    checks = _by(samples, "cachemgr_selftest_success", "check")
    for check, ok in sorted(checks.items()):
        disks.add_row(f"self-test {check}", "[green]passed" if ok else "[red]FAILED", "")
    out.append(disks)
    return out


def show(nodes: dict[str, list[Sample]], console: Console | None = None) -> None:
    console = console or Console()
    now = time.time()
    if not nodes:
        console.print("no cache node found")
    for node, samples in nodes.items():
        for table in tables(node, samples, now):
            if table.row_count:  # a node without auth has no credentials to show
                console.print(table)
