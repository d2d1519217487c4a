"""The pod, for real: the built image run by `podman kube play` from the `local` node's rendered manifests.

`cachemgr demo --pod --auth` as a user runs it (the auth tests of test_demo_auth.py run against it too), then
single pods played by the tests to stop and replay, change a value, and break the pod in the three ways admins
meet first. tests/run.sh builds the image (images/build.sh) before the tests enter their network namespace.
"""

from __future__ import annotations

import base64
import functools
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import yaml
from support import REPO, running
from support.cache import wait_closed
from support.clients import curl, xrdcp
from support.demo import Demo, add_origin_file, sha256, start
from support.metrics import Samples, by_label, samples, scrape, value
from support.wait import eventually

# The authenticated instance's acceptance, run here against the pod's (pytest gives them this module's `demo`).
from test_demo_auth import (  # noqa: F401
    SECRET,
    reader,
    secret_url,
    test_a_new_user_of_the_demo_ca_is_refused_under_protected_and_reads_elsewhere,
    test_the_printed_reader_reads_the_protected_namespace_over_xroot_and_https,
    test_the_public_instance_still_refuses_the_protected_namespace,
    test_the_self_test_reaches_the_protected_origin,
)

from cachemgr.core.params import BY_NAME
from cachemgr.local import sandbox
from cachemgr.local.podman import engine, transform
from cachemgr.local.podman import node as podman_node
from cachemgr.local.xrootd import origin, process
from cachemgr.xcache import cinfo

pytestmark = pytest.mark.usefixtures("xrootd_installed", "image")

UID = BY_NAME["xrootd.uid"].default  # the image's xrootd uid (tests/test_image.py ties it to the Dockerfile)
QUIET = {"k8s.drain": "3s", "selftest.interval": "5s", "selftest.timeout": "5s", "exporter.address": "127.0.0.1"}


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    running = start("--pod", "--auth", timeout=300)
    yield running
    if running.proc.poll() is None:
        running.stop()


def pod_dir(demo: Demo) -> Path:
    return demo.root / "cache"


def deployment(demo: Demo) -> dict:
    return yaml.safe_load((pod_dir(demo) / "site" / "k8s" / "local.yaml").read_text())


def played(demo: Demo) -> dict:
    return yaml.safe_load((pod_dir(demo) / "pod" / "deployment.yaml").read_text())


def container(demo: Demo) -> str:
    return f"{deployment(demo)['metadata']['name']}-pod-0-cache"


def in_pod(demo: Demo, *cmd: str) -> subprocess.CompletedProcess:
    return engine.podman("exec", container(demo), *cmd, check=False)


def ps() -> list[tuple[int, str]]:
    out = subprocess.run(["ps", "-eo", "uid=,args="], capture_output=True, text=True, check=True).stdout
    return [(int(uid), args) for uid, _, args in (line.strip().partition(" ") for line in out.splitlines())]


def test_a_file_is_read_through_the_pod_and_cached_on_the_host_path(demo: Demo, tmp_path: Path):
    data = os.urandom(3 << 20)
    src = add_origin_file(demo, "/pod/file.bin", data)
    assert xrdcp(f"{demo.env['CACHE_XROOT']}//pod/file.bin", tmp_path / "x").returncode == 0
    assert curl(f"{demo.env['CACHE_HTTP']}/pod/file.bin", tmp_path / "h").status == 200
    assert sha256(tmp_path / "x") == sha256(tmp_path / "h") == sha256(src)
    cached = Path(demo.env["CACHE_DIR"]) / "pod"
    assert (cached / "file.bin").is_file() and (cached / "file.bin.cinfo").is_file()
    assert (cached / "file.bin").stat().st_uid == UID  # written by the pod's xrootd, on the hostPath


def test_xrootd_runs_as_the_image_user_and_the_probes_pass(demo: Demo):
    daemons = [(uid, args) for uid, args in ps() if args.startswith("xrootd -n ") and "/etc/xrootd/" in args]
    assert {args.split()[2] for _, args in daemons} == {"noauth", "auth"}, daemons
    assert {uid for uid, _ in daemons} == {UID}
    for flag in ("--live", "--ready"):
        eventually(functools.partial(probe_passes, demo, flag), 60, interval=1, ignore=(AssertionError,))


def probe_passes(demo: Demo, flag: str) -> bool:
    probe = in_pod(demo, "cachemgr", "health", flag)
    assert probe.returncode == 0, probe.stdout
    return True


def test_metrics_answer_with_the_programs_the_cache_scan_and_the_self_test(demo: Demo):
    def scanned_and_tested() -> Samples:
        got = samples(scrape(demo.env["METRICS"]))
        names = {name for name, _ in got}
        assert {"cachemgr_selftest_success", "cachemgr_cache_files"} <= names, sorted(names)
        return got

    got = eventually(scanned_and_tested, 90, interval=2, ignore=(AssertionError,))
    assert got[("cachemgr_selftest_success", (("check", "hit_http"),))] == 1
    up = by_label(got, "cachemgr_process_up", "program")
    assert {"xrootd-noauth", "xrootd-auth", "cron", "selftest", "exporter"} <= set(up), up
    assert set(up.values()) == {1}, up


def test_the_pod_has_the_node_host_name(demo: Demo):
    # transform.node_host_name: a hostNetwork pod shares the node's UTS namespace.
    assert in_pod(demo, "hostname").stdout.strip() == socket.gethostname()


def pod_pids(demo: Demo) -> set[int]:
    """The cache container's processes, seen from the host."""
    top = int(engine.podman("inspect", "--format", "{{.State.Pid}}", container(demo)).stdout)
    return {top, *(p.pid for p in psutil.Process(top).children(recursive=True))}


def test_dropping_container_ports_changes_nothing_with_host_network(demo: Demo):
    # transform.drop_ports: with the host network, the TCP ports the pod's processes listen on are exactly the
    # declared containerPorts, and each answers on the host's loopback.
    spec = deployment(demo)["spec"]["template"]["spec"]
    assert spec["hostNetwork"] is True
    declared = {p["containerPort"] for c in spec["containers"] for p in c.get("ports", [])}
    assert "ports" not in played(demo)["spec"]["template"]["spec"]["containers"][0]
    pids = pod_pids(demo)
    listening = {c.laddr.port for c in psutil.net_connections("tcp") if c.status == "LISTEN" and c.pid in pids}
    assert listening == declared
    for port in declared:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass


def kubelet_projection(secret: dict, volume: dict) -> dict[str, tuple[int, bytes]]:
    """What the kubelet writes for a Secret volume: item path -> (mode, bytes); written here from the API's rules
    (items select and rename keys; an item's mode wins over defaultMode), independently of transform.project."""
    data = {k: base64.b64decode(v) for k, v in secret["data"].items()}
    return {i["path"]: (i.get("mode", volume["defaultMode"]), data[i["key"]]) for i in volume["items"]}


def test_the_secret_projection_is_what_the_kubelet_would_mount(demo: Demo):
    # transform.secrets_as_host_paths: same names, modes, owner and bytes in the container.
    volume = next(v["secret"] for v in deployment(demo)["spec"]["template"]["spec"]["volumes"] if "secret" in v)
    secret = yaml.safe_load((pod_dir(demo) / "pod" / f"secret-{volume['secretName']}.yaml").read_text())
    assert secret["type"] == "kubernetes.io/tls"
    mount = Path(BY_NAME["auth.hostcert"].default).parent
    listing = in_pod(demo, "stat", "-L", "-c", "%n %a %u", *[str(mount / i["path"]) for i in volume["items"]]).stdout
    for line in listing.splitlines():
        path, mode, uid = line.split()
        want_mode, want_bytes = kubelet_projection(secret, volume)[Path(path).name]
        assert (int(mode, 8), int(uid)) == (want_mode, 0), line
        assert in_pod(demo, "cat", path).stdout.encode() == want_bytes
    assert len(listing.splitlines()) == len(volume["items"])


def test_init_containers_still_run_first(demo: Demo):
    # transform.keep_init_containers: the init container ran, to success, and its recursive chown reached the
    # sentinel made as root before the pod (supervise chowns only the directories). podman's recorded start and
    # finish times cannot order it against the cache here (it syncs the init container's state late, after its
    # 20 s conmon wait); the cache's serving only after `kube play` returns is timed in bench/pod_start.py.
    init = f"{container(demo).removesuffix('-cache')}-prepare-cache"
    assert engine.podman("inspect", "--format", "{{.State.ExitCode}}", init).stdout.strip() == "0"
    assert (Path(demo.env["CACHE_DIR"]) / BY_NAME["cache.sentinel"].default).stat().st_uid == UID
    before, after = deployment(demo), played(demo)
    assert set(after["metadata"]["annotations"]) - set(before["metadata"].get("annotations", {})) == {
        transform.INIT_TYPE
    }
    for d in (before, after):  # what the transforms may change, taken out: the rest is identical
        spec = d["spec"]["template"]["spec"]
        spec.pop("hostname", None)
        d["metadata"].setdefault("annotations", {}).pop(transform.INIT_TYPE, None)
        for c in spec["containers"]:
            c.pop("ports", None)
        spec["volumes"] = [v for v in spec["volumes"] if "secret" not in v and v["name"] != "hostcert"]
    assert before == after


def test_fsck_evict_and_verify_origin_run_in_the_pod_with_its_settings(demo: Demo, tmp_path: Path):
    """`kubectl exec POD -- cachemgr fsck|verify-origin|evict`: no flag names the cache, its origin or its login."""
    old, new = os.urandom(100_000), os.urandom(150_000)
    add_origin_file(demo, "/integrity/file.bin", old)
    assert xrdcp(f"{demo.env['CACHE_XROOT']}//integrity/file.bin", tmp_path / "x").returncode == 0
    data = Path(demo.env["CACHE_DIR"]) / "integrity" / "file.bin"
    created = eventually(lambda: cinfo.read(f"{data}.cinfo").created, 10, ignore=(OSError, cinfo.CinfoError))
    clean = in_pod(demo, "cachemgr", "fsck", "--prefix", "/integrity")
    assert clean.returncode == 0 and ", 0 finding(s)" in clean.stdout, clean.stdout + clean.stderr

    # The protected namespace: stat'ed at the GSI origin with the cache's own proxy, as the auth instance logs in.
    secret = xrdcp(secret_url(demo, "AUTH_XROOT"), cadir=Path(demo.env["CA_DIR"]), reader=reader(demo))
    assert secret.returncode == 0 and secret.stdout == SECRET, secret.stderr
    protected = in_pod(demo, "cachemgr", "verify-origin", "--prefix", demo.env["PROTECTED"])
    assert protected.returncode == 0, protected.stdout + protected.stderr
    assert re.match(r"verify-origin: ([1-9]\d*) of \1 cached files .* 0 changed .* 0 not checked", protected.stdout)

    eventually(lambda: time.time() >= created + 1, 3, interval=0.05)  # a change after it was cached
    add_origin_file(demo, "/integrity/file.bin", new)
    stale = in_pod(demo, "cachemgr", "verify-origin", "--prefix", "/integrity")
    assert stale.returncode == 1 and stale.stdout.startswith("size: ") and "/integrity/file.bin: " in stale.stdout
    wait_closed(data)
    evicted = in_pod(demo, "cachemgr", "evict", "/integrity/file.bin")
    assert evicted.returncode == 0 and "evicted " in evicted.stdout, evicted.stdout + evicted.stderr
    assert not data.exists() and not Path(f"{data}.cinfo").exists()
    assert xrdcp(f"{demo.env['CACHE_XROOT']}//integrity/file.bin", tmp_path / "y").returncode == 0
    assert (tmp_path / "y").read_bytes() == new


def test_the_pod_stops_within_its_grace_period_and_leaves_nothing(demo: Demo):
    grace = deployment(demo)["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    name = container(demo)
    took = demo.stop()
    assert demo.proc.returncode == 0 and took <= grace, took
    assert "[supervise] stopping: draining first" in demo.log_tail(400)  # the pod got SIGTERM, as from a kubelet
    assert engine.podman("container", "exists", name, check=False).returncode == 1
    assert engine.podman("pod", "exists", name.removesuffix("-cache"), check=False).returncode == 1
    assert engine.podman("secret", "ls", "--format", "{{.Name}}").stdout.strip() == ""
    assert [p for p in ps() if p[0] == UID] == [] and demo.leftovers() == []
    assert not demo.root.exists()


def test_demo_pod_killed_with_sigkill_leaves_no_pod_container_mount_or_process_within_10s():
    killed = start("--pod", timeout=300)  # the module's demo has stopped: the pod's name is free again
    pod = container(killed).removesuffix("-cache")
    inspected = engine.podman("pod", "inspect", "--format", "{{range .Containers}}{{.Id}} {{end}}", pod).stdout
    ids = inspected.split()
    merged = [engine.podman("inspect", "--format", "{{.GraphDriver.Data.MergedDir}}", i).stdout.strip() for i in ids]
    processes = [psutil.Process(pid) for pid in pod_pids(killed)]
    assert len(ids) >= 2 and processes  # the infra and the cache container at least, and the cache's processes

    def podman_left() -> list[str]:
        left = [f"pod {pod}"] if engine.pod_exists(pod) else []
        left += [f"container {i}" for i in ids if engine.podman("container", "exists", i, check=False).returncode == 0]
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
        left += [m for m in mounts if any(i in m for i in ids + merged)]  # their root file systems, their /dev/shm
        return left + [" ".join(p.cmdline()) for p in processes if running(p)]

    killed.killed_leaves_nothing(also=podman_left)


# Pods the tests play themselves: stop and replay, a changed value, and three ways to break one.


@pytest.fixture
def pod(tmp_path: Path) -> Iterator[tuple[podman_node.PodNode, origin.OriginServer]]:
    root = Path(tempfile.mkdtemp(prefix="cachemgr-test-podnode-"))
    root.chmod(0o755)
    up = origin.start(root / "origin", sandbox.run_user(), process.free_port())
    node = podman_node.create(REPO / "k8s", "local", root / "cache", origin=up.address, extra=dict(QUIET))
    try:
        yield node, up
    finally:
        try:
            node.down()
        finally:
            up.stop()
            shutil.rmtree(root, ignore_errors=True)


def read(node: podman_node.PodNode, path: str, dest: Path) -> int:
    return curl(f"http://127.0.0.1:{node.values['ports.http']}{path}", dest).status


def restarts(node: podman_node.PodNode) -> float | None:
    got = samples(scrape(f"http://127.0.0.1:{node.values['ports.metrics']}/metrics"))
    return value(got, "cachemgr_process_restarts_total", program="xrootd-noauth")


def test_a_replayed_pod_serves_what_it_cached_without_the_origin(pod, tmp_path: Path):
    node, up = pod
    (up.data / "kept.bin").write_bytes(data := os.urandom(1 << 20))
    node.play()
    node.wait("--live")
    assert read(node, "/kept.bin", tmp_path / "first") == 200 and (tmp_path / "first").read_bytes() == data
    os.kill(next(p.pid for p in _xrootd(node)), 9)  # one restart in this pod's life
    eventually(lambda: restarts(node) == 1, 60, interval=1, message=lambda: restarts(node))
    node.down()
    up.stop()
    node.play()
    node.wait("--live")
    assert read(node, "/kept.bin", tmp_path / "again") == 200 and (tmp_path / "again").read_bytes() == data
    assert restarts(node) == 0


def _xrootd(node: podman_node.PodNode) -> list[psutil.Process]:
    """The pod's public xrootd, seen from the host (not another test's, which runs from a temp config)."""
    cmd = ["xrootd", "-n", "noauth", "-c", f"{node.values['paths.config']}/xrootd-noauth.cfg"]
    return [p for p in psutil.process_iter(["cmdline"]) if (p.info["cmdline"] or [])[:5] == cmd]


def test_a_changed_value_rolls_the_pod_onto_the_new_config(pod):
    node, _ = pod
    node.play()
    node.wait("--live")
    before = node.deployment["spec"]["template"]["metadata"]["annotations"]["cachemgr/config-sha256"]
    was = node.exec("cat", "/etc/xrootd/xrootd-noauth.cfg").stdout
    node.down()
    # The node now reports to a cache redirector: cmsd joins each xrootd (none answers there; cmsd keeps trying).
    node.render(redirector=f"127.0.0.1:{process.free_port()}")
    after = node.deployment["spec"]["template"]["metadata"]["annotations"]["cachemgr/config-sha256"]
    assert after != before
    node.play()
    node.wait("--live")
    running = node.exec("cat", "/etc/xrootd/xrootd-noauth.cfg").stdout
    assert running == (node.site / "configmaps" / "local" / "xrootd-noauth.cfg").read_text()
    assert running != was and "all.manager 127.0.0.1:" in running
    cmsd = [(uid, args) for uid, args in ps() if args.startswith("cmsd -n ") and "/etc/xrootd/" in args]
    assert {args.split()[2] for _, args in cmsd} == {"noauth", "auth"} and {uid for uid, _ in cmsd} == {UID}, cmsd


def not_ready_with(node: podman_node.PodNode, line: str) -> None:
    """The reason once in the pod log, the pod not ready with it, and no xrootd restarting behind it."""
    eventually(lambda: line in node.logs(), 180, interval=1, message=lambda: node.logs()[-3000:])
    ready = node.health("--ready")
    assert ready.returncode == 1 and line in ready.stdout, ready.stdout
    assert node.logs().count(line) == 1


def test_a_missing_sentinel_says_so_and_starts_nothing(pod):
    node, _ = pod
    (Path(node.values["cache.root"]) / node.values["cache.sentinel"]).unlink()
    node.play()
    not_ready_with(node, f"no {node.values['cache.sentinel']} in {node.values['cache.root']}; is the disk mounted?")
    assert _xrootd(node) == [] and "exit status 16" not in node.logs()


def test_a_missing_secret_leaves_out_the_auth_instance_and_says_so(pod):
    node, _ = pod
    assert node.values["auth.enabled"]
    node.secrets.clear()  # the Secret was never created; the volume is optional, so the pod starts
    node.play()
    node.wait("--live")
    cert = node.values["auth.hostcert"]
    not_ready_with(node, f"no host certificate at {cert} (is the Secret {node.values['auth.hostcert_secret']} there?)")
    assert len(_xrootd(node)) == 1


def test_a_host_name_that_does_not_resolve_says_what_to_fix(pod):
    node, _ = pod
    node.hostname = "cachemgr-unresolvable.invalid"
    node.play()
    not_ready_with(node, "this pod's host name 'cachemgr-unresolvable.invalid' does not resolve")
    assert _xrootd(node) == [] and "exit status 16" not in node.logs()
