"""`cachemgr verify-origin` against the demo's real origin and cache: files changed at the origin after they were
cached are reported, evicted with --evict, and then served new; unchanged files are left alone."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from support import cachemgr
from support.cache import wait_closed
from support.clients import xrdcp
from support.demo import Demo, add_origin_file
from support.wait import eventually

from cachemgr.local.xrootd.process import free_port
from cachemgr.xcache import cinfo

pytestmark = pytest.mark.usefixtures("xrootd_installed")


def verify(*args: str) -> subprocess.CompletedProcess[str]:
    return cachemgr("verify-origin", *args)


def read(demo: Demo, path: str) -> bytes:
    result = xrdcp(f"{demo.env['CACHE_XROOT']}/{path}")
    assert result.returncode == 0, result.stderr
    return result.stdout


def cache(demo: Demo, path: str, data: bytes) -> cinfo.Cinfo:
    """Put path at the origin, read it through the cache; its .cinfo once XrdPfc has written it."""
    add_origin_file(demo, path, data)
    assert read(demo, path) == data
    info = Path(demo.env["CACHE_DIR"]) / f"{path.lstrip('/')}.cinfo"
    return eventually(lambda: cinfo.read(info), 10, ignore=(OSError, cinfo.CinfoError))


def closed(demo: Demo, path: str) -> None:
    wait_closed(Path(demo.env["CACHE_DIR"]) / path.lstrip("/"))


def config_dir(demo: Demo) -> Path:
    """The demo's installed node config (what --config names in a pod)."""
    (found,) = {p.parent for p in demo.root.rglob("xrootd-noauth.cfg")}
    return found


def test_changed_files_reported_evicted_and_then_served_new(demo: Demo):
    old, new = os.urandom(200_000), os.urandom(300_017)
    same, touched = os.urandom(50_000), os.urandom(70_000)
    cached = cache(demo, "/verify/changed.bin", old)
    cache(demo, "/verify/same.bin", same)
    info = cache(demo, "/verify/touched.bin", touched)
    # Change them at the origin after they were cached: a later second than the cinfo's creation time.
    eventually(lambda: time.time() >= max(cached.created, info.created) + 1, 3, interval=0.05)
    add_origin_file(demo, "/verify/changed.bin", new)  # new content and size
    add_origin_file(demo, "/verify/touched.bin", os.urandom(70_000))  # new content, same size
    assert read(demo, "/verify/changed.bin") == old  # the cache keeps serving what it has: the problem

    root = demo.env["CACHE_DIR"]
    found = verify("--config", str(config_dir(demo)), "--prefix", "/verify")
    assert found.returncode == 1, found.stderr
    lines = found.stdout.splitlines()
    assert [line.split(": ")[:2] for line in lines[:-1]] == [
        ["size", f"{root}:/verify/changed.bin"],
        ["modified", f"{root}:/verify/touched.bin"],
    ], found.stdout
    assert f"origin {len(new)} B" in lines[0] and f"cached {len(old)} B" in lines[0]
    assert lines[-1].startswith("verify-origin: 3 of 3 cached files under /verify checked, 2 changed at the origin")

    for path in ("/verify/changed.bin", "/verify/touched.bin"):
        closed(demo, path)  # an open file is skipped, not evicted (remove.py)
    evicted = verify("--root", root, "--origin", demo.env["ORIGIN_XROOT"], "--prefix", "/verify", "--evict")
    assert evicted.returncode == 1, evicted.stderr
    assert f"evicted {root}:/verify/changed.bin" in evicted.stdout
    assert f"evicted {root}:/verify/touched.bin" in evicted.stdout
    assert "/verify/same.bin" not in evicted.stdout
    assert not Path(root, "verify/changed.bin.cinfo").exists() and Path(root, "verify/same.bin.cinfo").exists()

    assert read(demo, "/verify/changed.bin") == new
    eventually(lambda: Path(root, "verify/changed.bin.cinfo").exists(), 10)
    again = verify("--root", root, "--origin", demo.env["ORIGIN_XROOT"], "--prefix", "/verify")
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.splitlines()[-1].startswith("verify-origin: 2 of 2 cached files under /verify checked, 0")


def test_sample_checks_that_many(demo: Demo):
    for i in range(3):
        cache(demo, f"/sampled/{i}.bin", os.urandom(1000))
    result = verify("--config", str(config_dir(demo)), "--prefix", "/sampled", "--sample", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("verify-origin: 2 of 3 cached files under /sampled checked, 0 changed")


def test_unreachable_origin_is_an_error_and_evicts_nothing(demo: Demo):
    cache(demo, "/unreachable/a.bin", os.urandom(1000))
    add_origin_file(demo, "/unreachable/a.bin", os.urandom(2000))  # changed: would be evicted
    dead = f"root://127.0.0.1:{free_port()}"
    result = verify("--root", demo.env["CACHE_DIR"], "--origin", dead, "--prefix", "/unreachable", "--evict")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"cachemgr verify-origin: origin {dead}: xroot port")
    assert len(result.stderr.splitlines()) == 1
    assert Path(demo.env["CACHE_DIR"], "unreachable/a.bin.cinfo").exists()


def test_fsck_and_evict_run_against_the_demo_with_root_or_config(demo: Demo):
    """From the host: `--root $CACHE_DIR` (as the demo prints it) or the demo's installed config."""
    cache(demo, "/demo-ops/a.bin", os.urandom(5000))
    root = demo.env["CACHE_DIR"]
    for where in (["--root", root], ["--config", str(config_dir(demo))]):
        clean = cachemgr("fsck", *where, "--prefix", "/demo-ops")
        assert clean.returncode == 0 and "1 cached files under /demo-ops" in clean.stdout, clean.stdout + clean.stderr
    closed(demo, "/demo-ops/a.bin")
    evicted = cachemgr("evict", "--config", str(config_dir(demo)), "/demo-ops")
    assert evicted.returncode == 0 and f"evicted {root}:/demo-ops/a.bin" in evicted.stdout, evicted.stdout
    assert not Path(root, "demo-ops/a.bin.cinfo").exists()


def test_a_file_that_cannot_be_checked_is_an_error_not_evicted(demo: Demo):
    cache(demo, "/broken/a.bin", os.urandom(3000))
    closed(demo, "/broken/a.bin")  # XrdPfc writes the .cinfo again when it closes the file
    info = Path(demo.env["CACHE_DIR"], "broken/a.bin.cinfo")
    info.write_bytes(info.read_bytes()[:20])  # truncated: fsck's cinfo_bad
    result = verify(
        "--root", demo.env["CACHE_DIR"], "--origin", demo.env["ORIGIN_XROOT"], "--prefix", "/broken", "--evict"
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout.startswith(f"error: {demo.env['CACHE_DIR']}:/broken/a.bin: its .cinfo does not read (")
    assert "evicted" not in result.stdout and info.exists()
    assert result.stdout.splitlines()[-1].endswith(
        "0 changed at the origin (size 0, modified 0, gone 0), 1 not checked"
    )
