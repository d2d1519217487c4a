"""Collectors fed directly: packets as XRootD 5.5.3 (the hosts') and 5.8.1 (the image's) sent them, the scheduler's
real state file, real X.509 files.

Expected values come from the packets' numbers, `openssl`, and the scheduler's own TaskStates class. Also the scrape
that runs them: a collector that fails costs only its own metrics, and is logged once per change.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from support.metrics import by_label, collect

from cachemgr.credentials import throwaway
from cachemgr.scheduler.state import TaskStates
from cachemgr.stats import registry
from cachemgr.stats.collectors import credentials
from cachemgr.stats.collectors.credentials import CredentialsCollector
from cachemgr.stats.collectors.filesystem import FilesystemCollector
from cachemgr.stats.collectors.gstream import GstreamCollector
from cachemgr.stats.collectors.selftest import SelftestCollector
from cachemgr.stats.collectors.summary import SummaryCollector
from cachemgr.stats.collectors.tasks import TasksCollector
from cachemgr.stats.registry import Scrape, build
from cachemgr.stats.settings import Settings
from cachemgr.stats.streams import GstreamTotals, SummaryTotals
from cachemgr.xcache.synth import GSTREAM, GSTREAM_5_8, SUMMARY, SUMMARY_5_8, summary_packet


def summary(*packets: bytes) -> SummaryCollector:
    totals = SummaryTotals()
    for data in packets:
        totals.handle(data)
    return SummaryCollector(totals)


@pytest.mark.parametrize("template", [SUMMARY, SUMMARY_5_8], ids=["5.5.3", "5.8.1"])
def test_summary_packet_as_xrootd_sends_it(template: str):
    m = collect(summary(summary_packet(template=template)))
    ins = ("xrootd_instance", "noauth")
    assert m["xrootd_server_bytes_total", (("direction", "rx"), ins)] == 226
    assert m["xrootd_server_bytes_total", (("direction", "tx"), ins)] == 5250718
    assert m["xrootd_server_connections_total", (ins,)] == 1
    idle, running, jobs, queued = (4, 3, 11, 2) if template == SUMMARY else (2, 3, 45, 0)
    assert m["xrootd_sched_thread_count", (("state", "idle"), ins)] == idle
    assert m["xrootd_sched_thread_count", (("state", "running"), ins)] == running
    assert m["xrootd_sched_jobs", (ins,)] == jobs and m["xrootd_sched_queued", (ins,)] == queued
    assert m["cachemgr_xrootd_cpu_seconds_total", (("mode", "user"), ins)] == 0.025717
    assert m["xrootd_monitoring_packets_received_total", ()] == 1
    assert m["cachemgr_report_bad_packets_total", ()] == 0


def test_summary_counters_keep_rising_across_a_restart():
    c = summary(
        summary_packet(tod=1010, rx=100, tx=1000, us=1, uu=900_000),
        summary_packet(tod=1012, rx=150, tx=4000, us=2, uu=100_000),  # microseconds wrapped: still +0.2 s
        summary_packet(pid=777, tos=2000, tod=2001, rx=30, tx=500, us=0, uu=50_000),  # restarted: counts from zero
    )
    m = collect(c)
    ins = ("xrootd_instance", "noauth")
    assert m["xrootd_server_bytes_total", (("direction", "rx"), ins)] == 150 + 30
    assert m["xrootd_server_bytes_total", (("direction", "tx"), ins)] == 4000 + 500
    assert abs(m["cachemgr_xrootd_cpu_seconds_total", (("mode", "user"), ins)] - (2.1 + 0.05)) < 1e-9
    assert "xrootd_cpu_utilization" not in {name for name, _ in m}, "one packet of the new process: no rate yet"
    c.totals.handle(summary_packet(pid=777, tos=2000, tod=2003, rx=30, tx=500, us=1, uu=50_000))
    assert collect(c)["xrootd_cpu_utilization", (ins,)] == 0.5


def test_summary_bad_packets_are_counted_not_raised():
    m = collect(summary(b"", b"\0", b"<statistics", b"<other/>", b"\xff\xfe", b'<statistics tod="x"></statistics>'))
    assert m["cachemgr_report_bad_packets_total", ()] == 6
    assert m["xrootd_monitoring_packets_received_total", ()] == 6


def test_gstream_bytes_by_namespace_prefix():
    totals = GstreamTotals(depth=2)
    totals.handle(GSTREAM.encode())
    totals.handle(b'{"code":"=","pseq":1}\0')  # the identification packet: no events
    totals.handle(b"not json\0")
    m = collect(GstreamCollector(totals))

    def got(path: str, kind: str) -> float:
        return m["xrootd_cache_access_bytes", (("path", path), ("type", kind))]

    assert (got("/user/ligo", "hit"), got("/user/ligo", "miss"), got("/user/ligo", "bypass")) == (110, 5242780, 3)
    assert (got("/", "hit"), got("/", "miss")) == (0, 10)
    assert m["cachemgr_gstream_file_close_events_total", ()] == 3
    assert m["cachemgr_gstream_packets_total", ()] == 3
    assert m["cachemgr_gstream_bad_packets_total", ()] == 1


def test_gstream_of_xrootd_5_8_counts_the_same_fields():
    # b_todisk and b_prefetch (5.8.1) are not read: hit, miss and bypass mean what they meant on 5.5.3.
    totals = GstreamTotals(depth=2)
    totals.handle(GSTREAM_5_8.encode())
    m = collect(GstreamCollector(totals))
    got = {kind: m["xrootd_cache_access_bytes", (("path", "/a"), ("type", kind))] for kind in ("hit", "miss", "bypass")}
    assert got == {"hit": 5242880, "miss": 0, "bypass": 0}
    assert m["cachemgr_gstream_file_close_events_total", ()] == 1
    assert m["cachemgr_gstream_bad_packets_total", ()] == 0


def test_tasks_from_the_schedulers_state_file(tmp_path: Path):
    path = tmp_path / "tasks.json"
    assert collect(TasksCollector(path)) == {}, "no state file: no task has run, nothing to export"
    state = TaskStates(path)
    state.started("fetch-crl", 100.0)
    state.finished("fetch-crl", 103.5, ok=False, error="timeout")
    state.started("fetch-crl", 200.0)
    state.finished("fetch-crl", 201.0, ok=False, error="timeout")
    state.started("refresh-proxy", 300.0)
    state.finished("refresh-proxy", 302.0, ok=True, error=None)
    state.started("gridmap", 400.0)
    m = collect(TasksCollector(path))
    assert m["cachemgr_task_consecutive_failures", (("task", "fetch-crl"),)] == 2
    assert m["cachemgr_task_last_failure_timestamp_seconds", (("task", "fetch-crl"),)] == 201.0
    assert ("cachemgr_task_last_success_timestamp_seconds", (("task", "fetch-crl"),)) not in m
    assert m["cachemgr_task_last_success_timestamp_seconds", (("task", "refresh-proxy"),)] == 302.0
    assert m["cachemgr_task_last_duration_seconds", (("task", "refresh-proxy"),)] == 2.0
    assert m["cachemgr_task_running", (("task", "gridmap"),)] == 1
    path.write_text("{not json")
    with pytest.raises(ValueError):
        collect(TasksCollector(path))


def openssl_date(*args: str) -> float:
    out = subprocess.run(["openssl", *args], capture_output=True, text=True, check=True).stdout
    when = out.strip().split("=", 1)[1]
    return dt.datetime.strptime(when, "%b %d %H:%M:%S %Y %Z").replace(tzinfo=dt.UTC).timestamp()


def test_certificates_and_crls(tmp_path: Path):
    ca = throwaway.make_ca()
    host = throwaway.issue(ca, "localhost", host=True)
    host.write(tmp_path / "hostcert.pem", tmp_path / "hostkey.pem")
    ca_dir = tmp_path / "certificates"
    throwaway.install_ca(ca, ca_dir)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(now - dt.timedelta(hours=1))
        .next_update(now + dt.timedelta(days=2))
        .sign(ca.key, hashes.SHA256())
    )
    (ca_dir / "abcd1234.r0").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    (ca_dir / "deadbeef.r0").write_bytes(b"garbage")
    (ca_dir / "cachemgr-ca.pem").write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
    collector = CredentialsCollector({"host": tmp_path / "hostcert.pem", "proxy": tmp_path / "missing-proxy"}, ca_dir)
    m = collect(collector)
    host_labels = (("kind", "host"), ("path", str(tmp_path / "hostcert.pem")))
    assert m["cachemgr_certificate_not_after_timestamp_seconds", host_labels] == openssl_date(
        "x509", "-enddate", "-noout", "-in", str(tmp_path / "hostcert.pem")
    )
    assert m["cachemgr_certificate_readable", host_labels] == 1
    assert m["cachemgr_certificate_readable", (("kind", "proxy"), ("path", str(tmp_path / "missing-proxy")))] == 0
    crl_file = str(ca_dir / "abcd1234.r0")
    assert m["cachemgr_crl_next_update_timestamp_seconds", (("file", "abcd1234.r0"),)] == openssl_date(
        "crl", "-nextupdate", "-noout", "-in", crl_file
    )
    assert m["cachemgr_crl_last_update_timestamp_seconds", (("file", "abcd1234.r0"),)] == openssl_date(
        "crl", "-lastupdate", "-noout", "-in", crl_file
    )
    assert m["cachemgr_crl_bad_files", ()] == 1, "the garbage CRL; CA certificates (*.pem) are skipped"


def test_crls_are_parsed_again_only_when_they_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    ca = throwaway.make_ca()
    ca_dir = tmp_path / "certificates"
    throwaway.install_ca(ca, ca_dir)

    def crl(days: int) -> bytes:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        builder = x509.CertificateRevocationListBuilder().issuer_name(ca.cert.subject).last_update(now)
        return (
            builder.next_update(now + dt.timedelta(days=days))
            .sign(ca.key, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM)
        )

    path = ca_dir / "abcd1234.r0"
    path.write_bytes(crl(2))
    collector = CredentialsCollector({}, ca_dir)
    first = collect(collector)[("cachemgr_crl_next_update_timestamp_seconds", (("file", path.name),))]
    reads: list[Path] = []
    real = credentials._read_crl
    monkeypatch.setattr(credentials, "_read_crl", lambda p: reads.append(p) or real(p))
    assert collect(collector)[("cachemgr_crl_next_update_timestamp_seconds", (("file", path.name),))] == first
    assert reads == [], "an unchanged CRL is not read again"
    path.write_bytes(crl(5))  # fetch-crl installed a newer one
    later = collect(collector)[("cachemgr_crl_next_update_timestamp_seconds", (("file", path.name),))]
    assert reads == [path] and later > first
    path.write_bytes(b"garbage")
    assert collect(collector)[("cachemgr_crl_bad_files", ())] == 1
    path.unlink()
    assert ("cachemgr_crl_next_update_timestamp_seconds", (("file", path.name),)) not in collect(collector)


def test_a_failing_collector_costs_only_its_own_metrics_and_is_logged_once(tmp_path: Path, capsys):
    selftest = tmp_path / "selftest.json"
    selftest.write_text('{"time": 1}')  # no "checks"
    scrape = Scrape(
        {
            "selftest": SelftestCollector(selftest),
            "tasks": TasksCollector(tmp_path / "tasks.json"),  # missing: no task ran yet, not a failure
            "filesystem": FilesystemCollector({"data": [str(tmp_path)]}),
        }
    )
    for _ in range(3):
        m = collect(scrape)
        assert by_label(m, "cachemgr_scrape_collector_success", "collector") == {
            "selftest": 0,
            "tasks": 1,
            "filesystem": 1,
        }
        assert set(by_label(m, "cachemgr_scrape_collector_duration_seconds", "collector")) == {
            "selftest", "tasks", "filesystem"
        }  # fmt: skip
        assert m["cachemgr_filesystem_up", (("path", str(tmp_path)), ("role", "data"))] == 1
        assert not {name for name, _ in m if name.startswith("cachemgr_selftest_")}
    [logged] = capsys.readouterr().err.splitlines()
    assert logged.startswith("cachemgr exporter: collector selftest failed: KeyError: 'checks' (selftest.py:"), logged
    selftest.write_text('{"time": 1, "checks": {"disk": {"ok": true, "seconds": 0.5}}}')
    collect(scrape)
    assert collect(scrape)["cachemgr_selftest_success", (("check", "disk"),)] == 1
    assert capsys.readouterr().err.splitlines() == ["cachemgr exporter: collector selftest works again"]


def test_an_unknown_collector_name_is_refused_before_any_starts(monkeypatch):
    built = []

    class Recording:
        @classmethod
        def from_settings(cls, settings):
            built.append(cls)
            return cls()

        def close(self):
            pass

    monkeypatch.setattr(registry, "COLLECTORS", dict.fromkeys(registry.COLLECTORS, Recording))
    with pytest.raises(ValueError, match="no collector named processs"):
        build(Settings(disable=("cache_scan", "processs")))
    assert built == []


def test_a_failed_cache_scan_keeps_the_last_snapshot_and_is_logged_once(tmp_path: Path, capsys, monkeypatch):
    from cachemgr.stats.collectors.cache_scan import CacheScanCollector
    from cachemgr.stats.scan import CacheScan

    scan = CacheScan(tmp_path, 1, workers=1)
    scan.scan()
    monkeypatch.setattr(scan, "scan", lambda: 1 / 0)
    rounds = iter(range(3))  # three failed scans, then stop
    monkeypatch.setattr(scan._stopping, "is_set", lambda: next(rounds, None) is None)
    scan._loop(0)
    assert isinstance(scan.failure, ZeroDivisionError)
    err = capsys.readouterr().err
    assert err.count("cachemgr exporter: cache scan failed:") == 1 and "ZeroDivisionError" in err, err
    m = collect(CacheScanCollector(scan))
    assert m["cachemgr_cache_scans_total", ()] == 1
    assert ("cachemgr_cache_scan_timestamp_seconds", ()) in m
