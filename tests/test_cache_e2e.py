"""The README's main command: an origin and the rendered cache on 127.0.0.1, fetched through for real."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import psutil
import pytest
from support.clients import curl, xrdcp
from support.demo import Demo, add_origin_file, sha256, start
from support.metrics import samples, scrape, value
from support.wait import eventually

pytestmark = pytest.mark.usefixtures("xrootd_installed")


def test_fetch_through_cache_by_xroot_and_http(demo: Demo, tmp_path: Path):
    origin_file = add_origin_file(demo, "/data/run1/block.bin", os.urandom(3 * 1024 * 1024 + 17))
    by_xroot, by_http = tmp_path / "x", tmp_path / "h"
    result = xrdcp(f"{demo.env['CACHE_XROOT']}//data/run1/block.bin", by_xroot)
    assert result.returncode == 0, result.stderr
    assert curl(f"{demo.env['CACHE_HTTP']}/data/run1/block.bin", by_http).status == 200
    assert sha256(by_xroot) == sha256(by_http) == sha256(origin_file)
    cached = Path(demo.env["CACHE_DIR"]) / "data/run1/block.bin"
    assert cached.exists() and Path(f"{cached}.cinfo").exists()


def test_sample_is_served(demo: Demo, tmp_path: Path):
    assert curl(f"{demo.env['CACHE_HTTP']}{demo.env['SAMPLE']}", tmp_path / "s").status == 200
    assert (tmp_path / "s").read_bytes() == (Path(demo.env["ORIGIN_DIR"]) / demo.env["SAMPLE"].lstrip("/")).read_bytes()


def test_noauth_instance_refuses_protected_namespace(demo: Demo, tmp_path: Path):
    secret = f"{demo.env['PROTECTED']}/secret.txt"
    assert (Path(demo.env["ORIGIN_DIR"]) / secret.lstrip("/")).exists(), "the origin must have the file"
    refused = xrdcp(f"{demo.env['CACHE_XROOT']}/{secret}", tmp_path / "x")
    assert refused.returncode != 0 and b"permission denied" in refused.stderr.lower()
    assert curl(f"{demo.env['CACHE_HTTP']}{secret}", tmp_path / "h").status == 403
    assert not (Path(demo.env["CACHE_DIR"]) / secret.lstrip("/")).exists()


def test_file_added_to_origin_while_running_is_served(demo: Demo, tmp_path: Path):
    add_origin_file(demo, "/late/arrival.txt", b"added after start\n")
    assert curl(f"{demo.env['CACHE_HTTP']}/late/arrival.txt", tmp_path / "a").status == 200
    assert (tmp_path / "a").read_bytes() == b"added after start\n"


def test_robots_txt_is_preloaded(demo: Demo, tmp_path: Path):
    assert curl(f"{demo.env['CACHE_HTTP']}/static/robots.txt", tmp_path / "r").status == 200
    assert (tmp_path / "r").read_text() == "User-agent: *\nDisallow: /\n"


def test_cached_file_is_served_after_the_origin_stops(tmp_path: Path):
    demo = start()
    try:
        data = os.urandom(2 * 1024 * 1024)
        add_origin_file(demo, "/keep/me.bin", data)
        assert xrdcp(f"{demo.env['CACHE_XROOT']}//keep/me.bin", tmp_path / "first").returncode == 0
        origin_config = Path(demo.env["ORIGIN_DIR"]).parent / "origin.cfg"
        subprocess.run(["pkill", "-f", str(origin_config)], check=True)
        eventually(
            lambda: subprocess.run(["pgrep", "-f", str(origin_config)], capture_output=True).returncode != 0,
            10,
            interval=0.1,
            message="origin did not stop",
        )
        port = int(demo.env["ORIGIN_XROOT"].rsplit(":", 1)[1])
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5)
        assert xrdcp(f"{demo.env['CACHE_XROOT']}//keep/me.bin", tmp_path / "again").returncode == 0
        assert curl(f"{demo.env['CACHE_HTTP']}/keep/me.bin", tmp_path / "http").status == 200
        assert (tmp_path / "again").read_bytes() == (tmp_path / "http").read_bytes() == data
    finally:
        demo.stop()


def test_demo_stops_everything_within_10s_on_sigterm():
    demo = start()
    assert demo.leftovers(), "the demo's daemons should be running"
    took = demo.stop()
    assert demo.proc.returncode == 0
    assert took <= 10, f"stopping took {took:.1f}s"
    assert demo.leftovers() == []
    assert not demo.root.exists(), "the demo's temp dir should be removed"


def test_demo_killed_with_sigkill_leaves_no_process_port_or_dir_within_10s():
    start().killed_leaves_nothing()


def test_demo_serves_metrics(demo: Demo):
    text = scrape(demo.env["METRICS"])  # the demo prints it once xrootd is up; the exporter may lag
    assert f'cachemgr_filesystem_size_bytes{{path="{demo.env["CACHE_DIR"]}"' in text
    assert 'cachemgr_process_up{program="xrootd-noauth"} 1.0' in text
    # The limits the leak alerts compare with: the node's k8s.memory_limit, and xrootd's fd limit as the kernel has it.
    got = samples(text)
    assert value(got, "cachemgr_memory_limit_bytes") == 4 * 2**30  # k8s/nodes/local.yaml
    (xrootd,) = [
        p for p in psutil.process_iter(["name", "cmdline"])
        if p.info["name"] == "xrootd" and f"{demo.root}/" in (c := " ".join(p.info["cmdline"] or ())) and "noauth" in c
    ]  # fmt: skip
    (line,) = [x for x in Path(f"/proc/{xrootd.pid}/limits").read_text().splitlines() if x.startswith("Max open files")]
    assert value(got, "cachemgr_process_max_fds", program="xrootd-noauth") == int(line.split()[3])
