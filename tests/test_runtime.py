"""The container's entrypoint on the host, as in the image: real supervise, supervisord, xrootd, self-test."""

from __future__ import annotations

import functools
import hashlib
import http.client
import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from support import cachemgr
from support.origin import serving
from support.pod import Pod
from support.wait import eventually

from cachemgr.core import xroot
from cachemgr.local.xrootd import process

pytestmark = pytest.mark.usefixtures("xrootd_installed")


def test_refuses_to_start_without_the_disk_sentinel(tmp_path, pods):
    pod = Pod(tmp_path, {"auth.enabled": False})
    pods.append(pod)
    (Path(pod.v["cache.root"]) / pod.v["cache.sentinel"]).unlink()
    pod.start()
    line = f"refusing to start: no {pod.v['cache.sentinel']} in {pod.v['cache.root']}; is the disk mounted?"
    # Said once, then it waits: a container that exited would restart and repeat itself.

    def refused() -> subprocess.CompletedProcess | None:
        live = pod.health("--live")
        return live if line in live.stdout else None

    live = eventually(refused, 10, 0.25, message=lambda: pod.health("--live").stdout)
    assert live.returncode == 1, live.stdout
    assert pod.health("--ready").returncode == 1
    assert pod.proc.poll() is None and pod.out.read_text().count(line) == 1
    assert pod.stop() < 5 and pod.proc.returncode == 1
    assert not pod.leftovers()


def test_without_host_cert_only_the_public_cache_runs(tmp_path, pods):
    pod = Pod(tmp_path, {"auth.enabled": True})
    pods.append(pod)
    Path(pod.v["auth.hostcert"]).unlink()
    pod.start()
    pod.wait_live()
    programs = pod.programs()
    assert "xrootd-noauth" in programs and "xrootd-auth" not in programs
    log = pod.out.read_text()
    reason = f"no host certificate at {pod.v['auth.hostcert']} (is the Secret {pod.v['auth.hostcert_secret']} there?)"
    assert f"{reason}: the authenticated instance and its cmsd are left out" in log
    assert xroot.answers(pod.v["ports.xroot"]) is None and xroot.answers(pod.v["ports.auth"]) is not None
    ready = pod.health("--ready")
    assert ready.returncode == 1 and f"the authenticated instance is not running: {reason}" in ready.stdout


def test_with_host_cert_both_instances_run_and_logs_reach_stdout(tmp_path, pods):
    pod = Pod(tmp_path, {"auth.enabled": True})
    pods.append(pod)
    pod.start()
    pod.wait_live()
    assert {"xrootd-noauth", "xrootd-auth", "cron", "selftest", "exporter", "process-events"} <= set(pod.programs())
    eventually(
        lambda: "[xrootd-auth] ------ xrootd auth@" in pod.out.read_text(), 10, interval=0.2, message=pod.out.read_text
    )
    log = pod.out.read_text()
    assert "[supervise] task fix-certs succeeded" in log
    assert "[xrootd-noauth] ------ xrootd noauth@" in log


def test_sigterm_stops_everything_within_the_grace_period(tmp_path, pods):
    pod = Pod(tmp_path, {"auth.enabled": False})
    pods.append(pod)
    pod.start()
    pod.wait_live()
    assert pod.leftovers()
    took = pod.stop()
    assert pod.proc.returncode == 0
    assert took < pod.v["k8s.drain"] + 30, f"took {took:.1f}s, more than the pod's grace period"
    assert pod.leftovers() == []
    assert "[supervise] supervisord exited" in pod.out.read_text()


def test_origin_down_fails_the_miss_check_not_the_hit_check(tmp_path, pods):
    dead = f"127.0.0.1:{process.free_port()}"  # nothing listens there
    pod = Pod(tmp_path, {"auth.enabled": False, "selftest.miss_path": "/data/file.bin"}, origin=dead)
    pods.append(pod)
    pod.start()
    pod.wait_live()
    result = cachemgr("selftest", "--once", "--config", str(pod.box.config_dir))
    assert result.returncode == 1 and "self-test FAILED: miss:" in result.stdout
    checks = json.loads(pod.run.selftest.read_text())["checks"]
    assert checks["hit_xroot"]["ok"] and checks["hit_http"]["ok"] and checks["disk"]["ok"]
    assert checks["miss"]["ok"] is False
    ready = pod.health("--ready")
    assert ready.returncode == 1 and "self-test miss" in ready.stdout
    assert pod.health("--live").returncode == 0


def test_self_test_passes_and_the_pod_is_ready_with_a_live_origin(tmp_path, pods):
    with serving({"/data/file.bin": os.urandom(1 << 20)}) as up:
        pod = Pod(tmp_path, {"auth.enabled": False, "selftest.miss_path": "/data/file.bin"}, origin=up.address)
        pods.append(pod)
        pod.start()
        pod.wait_live()

        def ready() -> bool:
            result = pod.health("--ready")
            assert result.returncode == 0, result.stdout
            return True

        eventually(ready, 30, interval=1, ignore=(AssertionError,))
        checks = json.loads(pod.run.selftest.read_text())["checks"]
        assert all(c["ok"] for c in checks.values()), checks
        metrics = pod.metrics()
        for check in ("hit_xroot", "hit_http", "miss", "disk"):
            assert f'cachemgr_selftest_success{{check="{check}"}} 1.0' in metrics
        planted = Path(pod.v["cache.root"]) / ".cachemgr-selftest"
        assert not list(planted.glob("hit-*")), "the self-test must clean up what it plants"


def restarted(pod: Pod, pid: int) -> bool:
    """Supervisord runs a new xrootd in place of pid, and it answers."""
    info = pod.programs()["xrootd-noauth"]
    return info["pid"] not in (pid, 0) and info["statename"] == "RUNNING" and not xroot.answers(pod.v["ports.xroot"])


def read_since(reads: list[str], before: int, reader: threading.Thread) -> bool:
    if len(reads) > before:
        return True
    assert reader.is_alive(), "reads stopped"
    return False


def test_kill_9_under_a_read_loop_loses_no_read(tmp_path, pods):
    content = os.urandom(4 << 20)
    with serving({"/data/file.bin": content}) as up:
        pod = Pod(tmp_path, {"auth.enabled": False}, origin=up.address)
        pods.append(pod)
        pod.start()
        pod.wait_live()
        url = f"http://127.0.0.1:{pod.v['ports.http']}/data/file.bin"
        want = hashlib.sha256(content).hexdigest()
        reads: list[str] = []
        stop = threading.Event()

        def read_loop():
            while not stop.is_set():
                for _ in range(100):  # a read retries through a restart, then must succeed
                    try:
                        with urllib.request.urlopen(url, timeout=10) as r:
                            reads.append(hashlib.sha256(r.read()).hexdigest())
                        break
                    except (OSError, http.client.HTTPException):  # refused, reset, or cut short by the kill
                        time.sleep(0.1)
                else:
                    reads.append("lost")

        reader = threading.Thread(target=read_loop)
        reader.start()
        first = pod.programs()["xrootd-noauth"]["pid"]
        try:
            for _ in range(20):
                pid = pod.programs()["xrootd-noauth"]["pid"]
                os.kill(pid, signal.SIGKILL)
                killed = time.monotonic()
                came_back = functools.partial(restarted, pod, pid)
                eventually(came_back, 15, interval=0.05, message="xrootd did not come back")
                # At least one full read between kills.
                read_again = functools.partial(read_since, reads, len(reads), reader)
                eventually(read_again, killed + 45 - time.monotonic(), interval=0.05, message="reads stopped")
        finally:
            stop.set()
            reader.join(60)
        assert pod.programs()["xrootd-noauth"]["pid"] != first
        assert len(reads) >= 20 and set(reads) == {want}, f"{reads.count('lost')} lost, {len(reads)} reads"
        assert 'cachemgr_process_restarts_total{program="xrootd-noauth"} 20.0' in pod.metrics()
        assert 'cachemgr_process_up{program="xrootd-noauth"} 1.0' in pod.metrics()
