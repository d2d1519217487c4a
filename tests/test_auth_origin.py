"""The authenticated instance in front of a GSI-protected origin, as `cachemgr supervise` runs it.

The cache logs in to the origin with the proxy its refresh-proxy task made from the host cert. An expired
proxy (the instance restarted, so no valid copy is left in memory) must make new misses fail where an admin
sees it: the miss self-test and the exporter. A renewed proxy must be picked up without a restart.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.origin import serving
from support.pod import Pod
from support.wait import eventually

from cachemgr.core import files, supervisor_rpc
from cachemgr.credentials import throwaway, x509
from cachemgr.local.xrootd import origin, process

pytestmark = pytest.mark.usefixtures("xrootd_installed")

PROBE = "/public/probe.bin"  # what the self-test fetches through the authenticated instance
FILES = {PROBE: os.urandom(100_000), **{f"/public/miss-{i}.bin": os.urandom(200_000) for i in range(3)}}
TIMEOUT = 60


def get(pod: Pod, path: str) -> bytes:
    """Anonymous HTTP through the authenticated instance: whatever happens, it is the cache's own login."""
    with urllib.request.urlopen(f"http://127.0.0.1:{pod.v['ports.auth']}{path}", timeout=30) as response:
        return response.read()


def selftest_after(pod: Pod, since: float) -> dict:
    """The first self-test result that started after since."""

    def newer() -> dict | None:
        result = json.loads(pod.run.selftest.read_text())
        if result["time"] - result["checks"]["miss_auth"]["seconds"] > since:
            return result["checks"]["miss_auth"]
        return None

    return eventually(newer, TIMEOUT, message="no new self-test result", ignore=(OSError, ValueError, KeyError))


def restart_auth_instance(pod: Pod) -> None:
    rpc = supervisor_rpc.connect(pod.run).supervisor
    rpc.stopProcess("xrootd-auth")
    rpc.startProcess("xrootd-auth")  # returns once supervisord sees it RUNNING


@contextlib.contextmanager
def behind_protected_origin(tmp_path: Path, pods: list, credential: str) -> Iterator[tuple[Pod, origin.OriginServer]]:
    """A pod whose authenticated instance fetches from a GSI origin that admits only the pod's host DN."""
    port = process.free_port()
    pod = Pod(
        tmp_path,
        {
            "auth.enabled": True,
            "auth.origin_credential": credential,
            "origin.auth": origin.address(port, protected=True),
            "selftest.auth_miss_path": PROBE,
            "selftest.interval": "2s",
        },
    )
    pods.append(pod)
    host = x509.load_cert(Path(pod.v["auth.hostcert"]))
    assert pod.box.ca is not None
    # Its proxies log in as the host DN too.
    guard = origin.Protection(pod.box.ca, Path(pod.v["auth.cadir"]), {throwaway.oneline(host.subject): "cache"})
    with serving(FILES, guard, port) as up:
        pod.start()
        pod.wait_live()
        yield pod, up


def test_cache_reads_a_protected_origin_with_its_host_cert(tmp_path, pods):
    with behind_protected_origin(tmp_path, pods, "hostcert") as (pod, up):
        assert get(pod, "/public/miss-0.bin") == FILES["/public/miss-0.bin"]
        assert re.search(r"login as cache$", up.daemon.log.read_text(), re.M)
        assert selftest_after(pod, time.time())["ok"] is True


def test_cache_reads_a_protected_origin_with_its_proxy_and_fails_visibly_when_it_expires(tmp_path, pods):
    with behind_protected_origin(tmp_path, pods, "proxy") as (pod, up):
        proxy = Path(pod.v["auth.proxy"])
        host = x509.load_cert(Path(pod.v["auth.hostcert"]))
        log = pod.out.read_text()
        assert "[supervise] task refresh-proxy succeeded: new proxy in" in log, log
        assert x509.check_proxy(proxy.read_bytes(), host, str(proxy))  # the task's proxy, from the host cert

        # A miss: the cache logs in to the origin as the host's account and fetches the file.
        assert get(pod, "/public/miss-0.bin") == FILES["/public/miss-0.bin"]
        assert re.search(r"login as cache$", up.daemon.log.read_text(), re.M)
        assert selftest_after(pod, time.time())["ok"] is True
        assert pod.metric("cachemgr_selftest_success", check="miss_auth") == 1

        # The proxy expires; the restart drops the GSI client's valid copy in memory.
        key = x509.load_key(Path(pod.v["auth.hostkey"]))
        expired = x509.make_proxy(host, key, dt.timedelta(hours=1), start=x509.now() - dt.timedelta(hours=2))
        files.install(proxy, expired, 0o600, pod.v["xrootd.user"])
        restart_auth_instance(pod)
        with pytest.raises(urllib.error.HTTPError):
            get(pod, "/public/miss-1.bin")
        failed = selftest_after(pod, time.time())
        assert failed["ok"] is False, failed
        assert pod.metric("cachemgr_selftest_success", check="miss_auth") == 0
        proxy_end = pod.metric("cachemgr_certificate_not_after_timestamp_seconds", kind="proxy", path=str(proxy))
        assert proxy_end is not None and proxy_end < time.time()
        ready = pod.health("--ready")
        assert ready.returncode == 1 and "self-test miss_auth" in ready.stdout

        # refresh-proxy, as the scheduler runs it, renews it; xrootd picks the new file up without a restart.
        pid = pod.programs()["xrootd-auth"]["pid"]
        pod.box.run_tasks("refresh-proxy")
        assert x509.check_proxy(proxy.read_bytes(), host, str(proxy)).not_valid_after_utc > x509.now()
        assert get(pod, "/public/miss-2.bin") == FILES["/public/miss-2.bin"]
        assert selftest_after(pod, time.time())["ok"] is True
        assert pod.programs()["xrootd-auth"]["pid"] == pid
