"""`cachemgr status` against the real demo's exporter, and for the fleet through a real Prometheus."""

from __future__ import annotations

import pytest
from support import cachemgr
from support.promserver import prometheus
from support.wait import eventually

pytestmark = pytest.mark.usefixtures("xrootd_installed")


def wait_for_selftest(url: str) -> None:
    def shown() -> bool:
        out = cachemgr("status", "--metrics", url).stdout
        assert "self-test hit_xroot" in out, out
        return True

    eventually(shown, 60, interval=1, ignore=(AssertionError,))


def test_local_node(demo):
    url = demo.env["METRICS"]
    wait_for_selftest(url)
    result = cachemgr("status", "--metrics", url, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "local: programs" in out
    for program in ("xrootd-noauth", "exporter", "selftest", "cron"):
        assert program in out
    assert demo.env["CACHE_DIR"] in out and "bytes used" in out
    assert "self-test hit_http" in out and "passed" in out


def test_unreachable_exporter_is_one_line_and_exit_1():
    result = cachemgr("status", "--metrics", "http://127.0.0.1:9/metrics")
    assert result.returncode == 1
    assert result.stderr.startswith("cachemgr status: http://127.0.0.1:9/metrics:") and "Traceback" not in result.stderr


def test_fleet_through_prometheus(demo):
    wait_for_selftest(demo.env["METRICS"])
    target = demo.env["METRICS"].removeprefix("http://").removesuffix("/metrics")
    with prometheus(
        {"cache-a": target, "cache-b": target}, wait_for="count(count by (node) (cachemgr_selftest_success)) >= 2"
    ) as url:
        result = cachemgr("status", "--prometheus", url, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert "cache-a: programs" in result.stdout and "cache-b: programs" in result.stdout
    assert result.stdout.count("xrootd-noauth") == 2
