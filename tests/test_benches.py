"""Every bench in bench/ still runs: each as a user runs it (its own process, as root in a network namespace of its
own), at a tiny size, within a bounded time, printing figures that parse and make sense. No timing is asserted:
that is what the benches are for (bench/README.md)."""

from __future__ import annotations

import math
import re
import subprocess
import sys

import pytest
from support import REPO


def bench(name: str, *args: str, timeout: float = 90) -> str:
    """The bench's stdout; the test fails when it exits non-zero or runs past timeout."""
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / f"{name}.py"), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"bench/{name}.py exit {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def figures(pattern: str, text: str) -> dict[str, float]:
    """The named groups of pattern's match in text, as numbers (1,000 -> 1000)."""
    m = re.search(pattern, text, re.M)
    assert m, f"no line matching {pattern!r} in:\n{text}"
    got = {k: float(v.replace(",", "")) for k, v in m.groupdict().items()}
    assert all(math.isfinite(v) and v >= 0 for v in got.values()), got
    return got


def test_render_bench():
    out = bench("render", "--nodes", "20")
    f = figures(
        r"^nodes=(?P<nodes>\d+) validate=(?P<v>[\d.]+)s render=(?P<r>[\d.]+)s check=(?P<c>[\d.]+)s "
        r"write=(?P<w>[\d.]+)s total=(?P<total>[\d.]+)s command=(?P<command>[\d.]+)s",
        out,
    )
    assert f["nodes"] == 20 and f["command"] > 0
    assert f["total"] == pytest.approx(f["v"] + f["r"] + f["c"] + f["w"], abs=0.03)


def test_cinfo_scan_bench():
    out = bench("cinfo_scan", "--files", "400", "--rounds", "1", "--scrapes", "5")
    assert figures(r"^files=(?P<files>\d+) workers=(?P<workers>\d+)", out)["files"] == 400
    full = figures(r"^\(a\) full scan (?P<scan>[\d.]+) s vs tar (?P<tar>[\d.]+) s: (?P<ratio>[\d.]+)x", out)
    assert full["scan"] > 0 and full["tar"] > 0
    figures(r"^\(b\) rescan (?P<scan>[\d.]+) s vs find (?P<find>[\d.]+) s: (?P<ratio>[\d.]+)x", out)
    rss = figures(r"^\(c\) peak RSS (?P<largest>\d+) MB \(largest process\), (?P<all>\d+) MB", out)
    assert 0 < rss["largest"] <= rss["all"]
    metrics = figures(r"^\(d\) /metrics p99 (?P<p99>[\d.]+) ms \(max (?P<max>[\d.]+), n=(?P<n>\d+)\)", out)
    assert metrics["p99"] <= metrics["max"] and metrics["n"] >= 1


def test_fsck_bench():
    out = bench("fsck", "--files", "400", "--rounds", "1")
    assert figures(r"^files=(?P<files>\d+)", out)["files"] == 400
    f = figures(r"^clean fsck (?P<fsck>[\d.]+) s vs full scan (?P<scan>[\d.]+) s: (?P<ratio>[\d.]+)x", out)
    assert f["fsck"] > 0 and f["scan"] > 0


@pytest.mark.usefixtures("xrootd_installed")
def test_evict_bench():
    out = bench("evict", "--files", "200", "--rounds", "1")
    f = figures(
        r"^files=(?P<files>\d+): evict (?P<evict>[\d.]+) s \((?P<per_file>\d+) us a file\) vs plain "
        r"(?P<plain>[\d.]+) s: (?P<ratio>[\d.]+)x",
        out,
    )
    assert f["files"] == 200 and f["evict"] > 0 and f["plain"] > 0


def test_udp_ingest_bench():
    out = bench("udp_ingest", "--seconds", "0.1")
    # 500 packets in 0.1 s fit the receive buffer: the first rung of each ladder is never lost.
    assert figures(r"^summary: (?P<rate>[\d,]+) packets/s without loss", out)["rate"] >= 5_000
    assert figures(r"^gstream: (?P<rate>[\d,]+) events/s without loss", out)["rate"] >= 10_000


@pytest.mark.usefixtures("xrootd_installed")
def test_datapath_bench():
    out = bench("datapath", "--size", "4m", "--rounds", "1", "--hits", "1")
    assert figures(r"^direct\s+(?P<mbs>\d+) MB/s\s+\(median of (?P<n>\d+)\)", out)["n"] == 2
    for kind in ("miss", "hit"):
        f = figures(rf"^{kind}\s+(?P<mbs>\d+) MB/s\s+\(median of (?P<n>\d+)\)\s+ratio (?P<ratio>[\d.]+)", out)
        assert f["n"] == 1 and f["mbs"] > 0 and f["ratio"] > 0


@pytest.mark.usefixtures("xrootd_installed")
def test_restart_bench():
    out = bench("restart", "--kills", "1", "--size", "64k")
    f = figures(r"^shipped: kill -9 -> first correct read: n=(?P<n>\d+) of 1 median=(?P<median>[\d.]+)s", out)
    assert f["n"] == 1 and 0 < f["median"] <= 10  # --bound: a slower read fails the bench
    for part in ("reap", "respawn", "init", "serve"):
        figures(rf"^  {part}\s+median=(?P<median>[\d.]+)s", out)


@pytest.mark.usefixtures("xrootd_installed")
def test_fleet_bench():
    out = bench(
        "fleet",
        *("--nodes", "2", "--clients", "2", "--size", "1m", "--small", "2", "--small-size", "1k", "--tries", "1"),
        timeout=180,
    )
    row = r"^\| {what} \| (?P<fleet>[\d.]+) {unit} \| (?P<direct>[\d.]+) {unit} \| (?P<ratio>[\d.]+) \|$"
    for what in ("first pass \\(misses\\)", "second pass \\(hits\\)"):
        figures(row.format(what=f"throughput, 2 clients, {what}", unit="MB/s"), out)
    for what in ("miss, p50", "miss, p99", "hit, p50", "hit, p99"):
        figures(row.format(what=f"time to first byte, {what}", unit="ms"), out)
    failover = figures(r"failover .* median / max of 1 \| (?P<median>[\d.]+) s / (?P<max>[\d.]+) s", out)
    assert 0 < failover["median"] == failover["max"]


@pytest.mark.usefixtures("xrootd_installed", "image")
def test_pod_start_bench():
    out = bench("pod_start", "--rounds", "1", timeout=300)
    for kind in ("pod ", "host"):
        f = figures(rf"^median  {kind}: serving (?P<up>[\d.]+) s.*stop (?P<down>[\d.]+) s, (?P<mib>\d+) MiB", out)
        assert f["up"] > 0 and f["mib"] > 0
    figures(r"^pod / host  : serving (?P<up>[\d.]+)x, stop (?P<down>[\d.]+)x, memory (?P<memory>[\d.]+)x", out)
