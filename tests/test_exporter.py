"""`cachemgr exporter` against a real cache: its metrics checked against values computed another way.

The cache is the example `local` node in a sandbox (as the demo runs it) with a 1 s reporting interval, so
the summary and g-stream arrive within the test; expected values come from `xrdpfc_print -j`, `du` and
`stat -f`, not from our parser. Also: inputs that cannot be read cost only their own collectors' metrics.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import EXAMPLE, REPO, printed, signal_another_thread
from support.clients import xrdcp
from support.metrics import by_label, samples, scrape, value
from support.origin import put, serving
from support.wait import eventually

from cachemgr.core import procs
from cachemgr.core.pod import RunDir
from cachemgr.local import sandbox
from cachemgr.stats.registry import COLLECTORS

pytestmark = pytest.mark.usefixtures("xrootd_installed")


@dataclass
class MonitoredCache:
    """The example's local node in a sandbox before an origin the test adds files to: what the exporter watches."""

    box: sandbox.Sandbox
    origin_dir: Path
    xroot: str

    @property
    def root(self) -> Path:
        return Path(self.box.values["cache.root"])

    def add(self, rel: str, data: bytes) -> None:
        put(self.origin_dir, rel, data)

    def fetch(self, rel: str, dest: Path) -> None:
        result = xrdcp(f"{self.xroot}/{rel}", dest)
        assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def cache() -> Iterator[MonitoredCache]:
    with serving({}) as up:
        root = Path(tempfile.mkdtemp(prefix="cachemgr-exporter-"))  # not pytest's: xrootd runs as its own user
        box = sandbox.create(
            EXAMPLE, "local", root, origin=up.address, extra={"auth.enabled": False, "monitoring.interval": "1s"}
        )
        try:
            box.start_daemons(isolate=False)
            yield MonitoredCache(box, up.data, f"root://127.0.0.1:{box.values['ports.xroot']}/")
        finally:
            sandbox.remove(box)


@dataclass
class Running:
    proc: subprocess.Popen
    env: dict[str, str]

    def scrape(self) -> str:
        return scrape(self.env["METRICS"], wait=0)  # it has printed METRICS: it answers

    def value(self, name: str, **labels: str) -> float | None:
        return value(samples(self.scrape()), name, **labels)


def start_exporter(*args: str) -> Running:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cachemgr", "exporter", "--listen", "127.0.0.1:0", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Its stderr once it has exited (before, reading it would wait for that).
    env = printed(proc, ["METRICS"], 30, "exporter", lambda: proc.stderr.read() if proc.poll() is not None else "")
    return Running(proc, env)


@pytest.fixture(scope="module")
def exporter(cache: MonitoredCache, tmp_path_factory) -> Iterator[Running]:
    v = cache.box.values
    running = start_exporter(
        "--cache-root", str(cache.root),
        "--summary-port", str(v["ports.summary"]),
        "--gstream-port", str(v["ports.gstream"]),
        "--data-disks", *v["cache.data_disks"], str(cache.root),
        "--scan-depth", "2",
        "--scan-interval", "0.5",
        "--run-dir", str(tmp_path_factory.mktemp("run")),
    )  # fmt: skip
    yield running
    running.proc.send_signal(signal.SIGTERM)
    assert running.proc.wait(15) == 0


# Streams and scans arrive on their own clock: a check is retried while it fails or a sample is missing (KeyError).
NOT_YET = (AssertionError, KeyError)


def expected_by_prefix(root: Path, prefix: str) -> dict[str, float]:
    """Totals for files under prefix from xrdpfc_print -j (XRootD's reader) and du (bytes on disk)."""
    cinfos = sorted(str(p) for p in (root / prefix.lstrip("/")).rglob("*.cinfo"))
    printout = subprocess.run(["xrdpfc_print", "-j", *cinfos], capture_output=True, text=True, check=True).stdout
    infos = [json.loads(line) for line in printout.splitlines()]
    du = subprocess.run(
        ["du", "-s", "-B1", *(c.removesuffix(".cinfo") for c in cinfos)], capture_output=True, text=True, check=True
    ).stdout
    return {
        "files": len(infos),
        "complete": sum(i["state_complete"] == "complete" for i in infos),
        "logical": sum(i["file_size"] for i in infos),
        "accesses": sum(i["n_acc_total"] for i in infos),
        "disk": sum(int(line.split()[0]) for line in du.splitlines()),
        **{kind: sum(a[f"B_{kind}"] for i in infos for a in i["accesses"]) for kind in ("hit", "miss", "bypass")},
    }


def test_cache_scan_and_gstream_match_xrootd(cache: MonitoredCache, exporter: Running, tmp_path: Path):
    sizes = {"/exp/a/one.bin": 3 * 1024 * 1024 + 5, "/exp/a/two.bin": 1000, "/exp/b/deep/three.bin": 5 << 20}
    for rel, size in sizes.items():
        cache.add(rel, os.urandom(size))
        cache.fetch(rel, tmp_path / "out")
    cache.fetch("/exp/a/one.bin", tmp_path / "out")  # a second access

    def scan_matches() -> bool:
        for prefix in ("/exp/a", "/exp/b"):
            want = expected_by_prefix(cache.root, prefix)
            got = samples(exporter.scrape())
            label = (("path", prefix),)
            assert got[("cachemgr_cache_files", label)] == want["files"]
            assert got[("cachemgr_cache_complete_files", label)] == want["complete"]
            assert got[("cachemgr_cache_logical_bytes", label)] == want["logical"]
            assert got[("cachemgr_cache_accesses", label)] == want["accesses"]
            assert got[("cachemgr_cache_disk_bytes", label)] == want["disk"]
            assert got[("cachemgr_cache_bad_cinfo_files", label)] == 0
            for kind in ("hit", "miss", "bypass"):
                assert got[("cachemgr_cache_read_bytes", (*label, ("type", kind)))] == want[kind]
                # Every access the cinfo records was also a g-stream file_close event.
                assert got[("xrootd_cache_access_bytes", (*label, ("type", kind)))] == want[kind]
        return True

    eventually(scan_matches, 30, ignore=NOT_YET)
    assert exporter.value("cachemgr_cache_files", path="/exp/a") == 2
    assert exporter.value("cachemgr_cache_logical_bytes", path="/exp/b") == sizes["/exp/b/deep/three.bin"]


def test_rescan_of_unchanged_cache_reads_no_cinfo(exporter: Running):
    def settled() -> bool:
        assert exporter.value("cachemgr_cache_scan_parsed_files") == 0
        return True

    eventually(settled, 30, ignore=NOT_YET)
    scans = exporter.value("cachemgr_cache_scans_total")
    eventually(lambda: settled() and _more(exporter.value("cachemgr_cache_scans_total"), scans + 2), 30, ignore=NOT_YET)
    settled()
    assert exporter.value("cachemgr_cache_files", path="/exp/a") == 2, "files are still counted, just not read"
    assert exporter.value("cachemgr_cache_scan_errors_total") == 0


def test_filesystem_matches_stat_f(cache: MonitoredCache, exporter: Running):
    disk = str(cache.root)
    out = subprocess.run(["stat", "-f", "-c", "%S %b %a %c %d", disk], capture_output=True, text=True, check=True)
    frsize, blocks, avail, files, ffree = map(int, out.stdout.split())
    assert exporter.value("cachemgr_filesystem_up", path=disk, role="data") == 1
    assert exporter.value("cachemgr_filesystem_size_bytes", path=disk, role="data") == blocks * frsize
    assert exporter.value("cachemgr_filesystem_files", path=disk, role="data") == files
    # free space and inodes move while xrootd writes: same order of magnitude is what stat -f can confirm
    assert abs(exporter.value("cachemgr_filesystem_avail_bytes", path=disk, role="data") - avail * frsize) < 1 << 30
    assert abs(exporter.value("cachemgr_filesystem_files_free", path=disk, role="data") - ffree) < 10_000


def test_summary_stream_counts_traffic(cache: MonitoredCache, exporter: Running, tmp_path: Path):
    cache.add("/sum/file.bin", os.urandom(2 << 20))
    before = exporter.value("xrootd_server_bytes_total", direction="tx", xrootd_instance="noauth") or 0
    cache.fetch("/sum/file.bin", tmp_path / "f")

    def counted() -> bool:
        tx = exporter.value("xrootd_server_bytes_total", direction="tx", xrootd_instance="noauth")
        assert tx is not None and tx - before >= 2 << 20
        assert exporter.value("xrootd_server_connections_total", xrootd_instance="noauth") >= 1
        threads = exporter.value("xrootd_sched_thread_count", state="idle", xrootd_instance="noauth")
        assert threads is not None and threads >= 0
        assert exporter.value("xrootd_sched_jobs", xrootd_instance="noauth") > 0
        assert exporter.value("xrootd_cpu_utilization", xrootd_instance="noauth") is not None
        assert exporter.value("cachemgr_report_bad_packets_total") == 0
        return True

    eventually(counted, 30, ignore=NOT_YET)
    assert exporter.value("xrootd_monitoring_packets_received_total") > 0


def test_promtool_check_metrics(exporter: Running):
    out = subprocess.run(["promtool", "check", "metrics"], input=exporter.scrape(), capture_output=True, text=True)
    problems = [line for line in (out.stdout + out.stderr).splitlines() if line.strip()]
    assert problems == [], problems


def _more(value: float | None, least: float) -> bool:
    assert value is not None and value >= least, f"{value} < {least}"
    return True


# The collectors whose input test_unreadable_inputs_cost_only_their_own_collectors makes unreadable.
FAILING = {"tasks", "selftest", "fsck", "processes"}


def test_unreadable_inputs_cost_only_their_own_collectors(tmp_path: Path):
    """A self-test result without its checks, a task state file that cannot be read, an fsck result that is not
    JSON, no supervisord: /metrics
    still answers 200 with every other collector's metrics, and says which collectors failed."""
    root, run = tmp_path / "namespace", tmp_path / "run"
    root.mkdir()
    run.mkdir()
    RunDir(run).selftest.write_text('{"time": 1700000000, "ok": true}')
    RunDir(run).tasks.mkdir()  # reading it fails, even as root
    RunDir(run).fsck.write_text('{"time": 17')
    running = start_exporter(
        "--cache-root", str(root), "--run-dir", str(run), "--summary-port", "0", "--gstream-port", "0",
        "--scan-interval", "0.2",
    )  # fmt: skip
    try:
        eventually(lambda: _more(running.value("cachemgr_cache_scans_total"), 1), 30, ignore=NOT_YET)
        for _ in range(3):
            got = samples(running.scrape())  # 200
            assert by_label(got, "cachemgr_scrape_collector_success", "collector") == {
                name: int(name not in FAILING) for name in COLLECTORS
            }
            assert got["cachemgr_filesystem_up", (("path", str(root)), ("role", "data"))] == 1
            assert got["cachemgr_cache_scan_errors_total", ()] == 0
            assert got["xrootd_monitoring_packets_received_total", ()] == 0
            assert got["cachemgr_gstream_packets_total", ()] == 0
            names = {name for name, _ in got}
            failed = ("cachemgr_task_", "cachemgr_selftest_", "cachemgr_fsck_", "cachemgr_process_")
            assert not {n for n in names if n.startswith(failed)}
    finally:
        running.proc.send_signal(signal.SIGTERM)
        assert running.proc.wait(15) == 0
    failures = [line for line in running.proc.stderr.read().splitlines() if "failed" in line]
    assert [line.split(":")[1].strip() for line in failures] == [
        f"collector {name} failed" for name in COLLECTORS if name in FAILING
    ], failures  # each once, though scraped four times


def test_a_sigterm_any_of_its_threads_takes_stops_the_exporter(tmp_path: Path):
    """The kernel hands a process's signal to any thread: the exporter's main thread waits, the scan's and the HTTP
    server's run; taken by one of those, the SIGTERM must still stop it (it used to wait on forever)."""
    (tmp_path / "namespace").mkdir()
    running = start_exporter(
        "--cache-root", str(tmp_path / "namespace"), "--run-dir", str(tmp_path), "--summary-port", "0",
        "--gstream-port", "0",
    )  # fmt: skip
    try:
        signal_another_thread(running.proc.pid, signal.SIGTERM)
        assert running.proc.wait(15) == 0
    finally:
        procs.stop(running.proc, 1)


def test_settings_from_the_nodes_runtime_json(cache: MonitoredCache, exporter: Running):
    """`--config DIR`: the node's rendered runtime.json, flags on top (the fixture's exporter has the UDP ports)."""
    running = start_exporter("--config", str(cache.box.config_dir), "--disable", "summary", "gstream")
    try:
        got = samples(scrape(running.env["METRICS"]))
        assert set(by_label(got, "cachemgr_scrape_collector_success", "collector")) == set(COLLECTORS) - {
            "summary",
            "gstream",
        }
        disks = {dict(labels)["path"] for name, labels in got if name == "cachemgr_filesystem_size_bytes"}
        assert disks == (set(cache.box.values["cache.data_disks"]) or {str(cache.root)})
    finally:
        running.proc.send_signal(signal.SIGTERM)
        assert running.proc.wait(15) == 0
