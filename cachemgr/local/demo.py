"""`cachemgr demo`: a real origin and the example `local` node's cache, on 127.0.0.1, until a signal.

With --auth also the node's authenticated instance, in front of a second, GSI-protected origin that only the
cache's host DN may read; a throw-away CA signs the host and one reader whose DN the node's values map to the
protected namespace. The cache's xrd cert, proxy and grid-mapfile are made by its own start-up tasks.

With --pod the cache is the built image, run by `podman kube play` from the node's rendered manifests as an admin
applies them (cachemgr/local/podman); without it, `cachemgr supervise` (the image's entrypoint) runs on this machine.

SIGINT or SIGTERM stops it all in order; killed outright (SIGKILL, a closed terminal, the OOM killer) it still leaves
nothing: its reaper (reaper.py) kills what it started and removes the pod and the temp dir.
"""

from __future__ import annotations

import hashlib
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from cachemgr.core import files, procs
from cachemgr.credentials import throwaway
from cachemgr.credentials.x509 import key_pem, load_cert
from cachemgr.local import reaper as reap
from cachemgr.local import sandbox
from cachemgr.local.podman import engine
from cachemgr.local.podman import node as podman_node
from cachemgr.local.xrootd import origin, process
from cachemgr.values.resolve import NodeValues

SAMPLE = "/sample/hello.txt"
MISS_PATH = "/sample/random-1m.bin"  # what the self-test fetches through the cache to prove misses work


def origin_files(data: Path, protected: str) -> None:
    (data / "sample").mkdir(parents=True)
    (data / "sample" / "hello.txt").write_text("Hello from the cachemgr demo origin.\n")
    blob = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(1 << 15))  # 1 MiB, reproducible
    (data / "sample" / "random-1m.bin").write_bytes(blob)
    secret = data / protected.lstrip("/")
    secret.mkdir(parents=True)
    (secret / "secret.txt").write_text("Only the authenticated instance may serve this.\n")


def _wait_for_signal() -> None:
    stop = threading.Event()
    procs.on_signals((signal.SIGINT, signal.SIGTERM), lambda _: stop.set())
    stop.wait()


def _reader(ca: throwaway.Issued, v: NodeValues, root: Path) -> dict[str, str]:
    """The CA (its key too: sign more readers with it) and a reader the node's values map to PROTECTED."""
    cadir = Path(v["auth.cadir"])
    ca_key = root / "ca" / "ca-key.pem"
    files.install(ca_key, key_pem(ca.key), 0o600)
    dn = v["namespaces.protected"][0].dns[0]
    reader = throwaway.write_reader(throwaway.issue(ca, dn, host=False), root / "reader", "reader")
    return {
        "AUTH_XROOT": f"root://localhost:{v['ports.auth']}",
        "AUTH_HTTPS": f"https://localhost:{v['ports.auth']}",
        "CA_DIR": str(cadir),
        "CA_CERT": str(next(cadir.glob("*.0"))),
        "CA_KEY": str(ca_key),
        "USER_CERT": str(reader.cert),
        "USER_KEY": str(reader.key),
        "USER_PROXY": str(reader.proxy),
    }


class HostCache:
    """The node's cache run by `cachemgr supervise` on this machine, as the image's entrypoint runs it."""

    def __init__(self, values_dir: Path, node: str, root: Path, origin_at: str, extra: dict) -> None:
        self.box = sandbox.create(values_dir, node, root, origin=origin_at, extra=extra)
        self.values, self.ca = self.box.values, self.box.ca
        self.hostcert = Path(self.values["auth.hostcert"])
        self.supervisor: subprocess.Popen | None = None

    def start(self) -> None:
        self.supervisor = self.box.supervise(sys.stderr)
        self.box.wait_serving(self.supervisor, timeout=30)

    def stop(self) -> None:
        if self.supervisor is not None:
            procs.stop(self.supervisor, sandbox.STOP_WITHIN, group=True)
        sandbox.remove(self.box)


class PodCache:
    """The node's cache as a pod of the built image, played from its rendered manifests."""

    def __init__(self, values_dir: Path, node: str, root: Path, origin_at: str, extra: dict) -> None:
        self.pod = podman_node.create(values_dir, node, root, origin=origin_at, extra=extra)
        self.values, self.ca = self.pod.values, self.pod.ca
        self.hostcert = self.pod.hostcert[0]
        self.follow: subprocess.Popen | None = None

    def start(self) -> None:
        self.pod.play()
        # The pod's log (supervise relays every program's) goes where the host demo's goes.
        self.follow = subprocess.Popen(
            ["podman", "logs", "-f", self.pod.container], stdout=sys.stderr, stderr=sys.stderr, env=engine.env()
        )
        self.pod.wait("--live")

    def stop(self) -> None:
        try:
            self.pod.down()
        finally:
            if self.follow is not None:
                procs.stop(self.follow, 5)


def run(values_dir: Path, node: str = "local", auth: bool = False, pod: bool = False) -> int:
    if not shutil.which("xrootd"):
        print("cachemgr demo: xrootd is not installed; run images/install.sh first", file=sys.stderr)
        return 1
    root = Path(tempfile.mkdtemp(prefix="cachemgr-demo-"))
    root.chmod(0o755)  # xrootd runs as its own user
    reaper = reap.start(root)  # killed or not, the demo leaves nothing
    origins: list[origin.OriginServer] = []
    cache: HostCache | PodCache | None = None
    code = 1
    try:
        public_port, protected_port = process.free_port(), process.free_port()
        extra = {
            "auth.enabled": auth,
            "origin.auth": origin.address(protected_port, protected=True) if auth else None,
            "k8s.drain": "5s",
            "exporter.address": "127.0.0.1",
            "exporter.scan_interval": "10s",
            "monitoring.interval": "5s",
            "selftest.miss_path": MISS_PATH,
            "selftest.auth_miss_path": MISS_PATH if auth else None,  # both origins serve it
            "selftest.interval": "15s",
        }
        kind = PodCache if pod else HostCache
        cache = kind(values_dir, node, root / "cache", f"127.0.0.1:{public_port}", extra)
        if isinstance(cache, PodCache):
            reaper.pod(cache.pod.pod, cache.pod.played)
        v = cache.values
        protected = [ns.path for ns in v["namespaces.protected"]]
        if auth and not (protected and v["namespaces.protected"][0].dns):
            print(f"cachemgr demo --auth: node {node} has no protected namespace with dns to demo", file=sys.stderr)
            return 1
        user = sandbox.run_user(v["xrootd.user"])
        origins.append(origin.start(root / "origin", user, public_port))
        origin_files(origins[0].data, protected[0] if protected else "/protected")
        if auth:
            assert cache.ca is not None
            host_dn = throwaway.oneline(load_cert(cache.hostcert).subject)
            guard = origin.Protection(cache.ca, Path(v["auth.cadir"]), {host_dn: "cache"})
            origins.append(origin.start(root / "protected-origin", user, protected_port, guard))
            origin_files(origins[1].data, protected[0])
        cache.start()
        lines = {
            "ORIGIN_XROOT": f"root://127.0.0.1:{public_port}",
            "ORIGIN_DIR": str(origins[0].data),
            "CACHE_XROOT": f"root://127.0.0.1:{v['ports.xroot']}",
            "CACHE_HTTP": f"http://127.0.0.1:{v['ports.http']}",
            "CACHE_DIR": v["cache.root"],
            "SAMPLE": SAMPLE,
            "PROTECTED": protected[0] if protected else "",
            "METRICS": f"http://127.0.0.1:{v['ports.metrics']}/metrics",
            **(_reader(cache.ca, v, root) if auth and cache.ca else {}),
        }
        for key, value in lines.items():
            print(f"{key}={value}", flush=True)
        _wait_for_signal()
        code = 0
    except (process.StartError, engine.EngineError) as e:
        cause = f": {e.cause()}" if isinstance(e, process.StartError) else ""
        print(f"cachemgr demo: {e}{cause}", file=sys.stderr)
    finally:
        try:
            if cache is not None:
                cache.stop()
        except engine.EngineError as e:  # a pod left behind: said, and the exit says it too
            print(f"cachemgr demo: {e}", file=sys.stderr)
            code = 1
        for up in origins:
            up.daemon.stop(timeout=1)
        shutil.rmtree(root, ignore_errors=True)
        reaper.close()
    return code
