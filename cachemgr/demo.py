"""`cachemgr demo`: a real origin and the example `local` node's cache, on 127.0.0.1, until a signal.

With --auth also the node's authenticated instance, in front of a second, GSI-protected origin that only the
cache's host DN may read; a throw-away CA signs the host and one reader whose DN the node's values map to the
protected namespace. The cache's xrd cert, proxy and grid-mapfile are made by its own start-up tasks.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from cachemgr import files, sandbox
from cachemgr.credentials import throwaway
from cachemgr.credentials.x509 import key_pem, load_cert
from cachemgr.xrootd import origin, process

SAMPLE = "/sample/hello.txt"
MISS_PATH = "/sample/random-1m.bin"  # what the self-test fetches through the cache to prove misses work
STOP_WITHIN = 8.0  # seconds for supervise to drain and stop its programs; the whole stop stays under 10 s


def _origin_files(data: Path, protected: str) -> None:
    (data / "sample").mkdir(parents=True)
    (data / "sample" / "hello.txt").write_text("Hello from the cachemgr demo origin.\n")
    blob = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(1 << 15))  # 1 MiB, reproducible
    (data / "sample" / "random-1m.bin").write_bytes(blob)
    secret = data / protected.lstrip("/")
    secret.mkdir(parents=True)
    (secret / "secret.txt").write_text("Only the authenticated instance may serve this.\n")


def _wait_for_signal() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    signal.sigwait({signal.SIGINT, signal.SIGTERM})


def _reader(box: sandbox.Sandbox, root: Path) -> dict[str, str]:
    """The CA (its key too: sign more readers with it) and a reader the node's values map to PROTECTED."""
    assert box.ca is not None
    cadir = Path(box.values["auth.cadir"])
    ca_key = root / "ca" / "ca-key.pem"
    files.install(ca_key, key_pem(box.ca.key), 0o600)
    dn = box.values["namespaces.protected"][0].dns[0]
    reader = throwaway.write_reader(throwaway.issue(box.ca, dn, host=False), root / "reader", "reader")
    return {
        "AUTH_XROOT": f"root://localhost:{box.values['ports.auth']}",
        "AUTH_HTTPS": f"https://localhost:{box.values['ports.auth']}",
        "CA_DIR": str(cadir),
        "CA_CERT": str(next(cadir.glob("*.0"))),
        "CA_KEY": str(ca_key),
        "USER_CERT": str(reader.cert),
        "USER_KEY": str(reader.key),
        "USER_PROXY": str(reader.proxy),
    }


def run(values_dir: Path, node: str = "local", auth: bool = False) -> int:
    if not shutil.which("xrootd"):
        print("cachemgr demo: xrootd is not installed; run images/install.sh first", file=sys.stderr)
        return 1
    root = Path(tempfile.mkdtemp(prefix="cachemgr-demo-"))
    root.chmod(0o755)  # xrootd runs as its own user
    origins: list[origin.Origin] = []
    supervisor: subprocess.Popen | None = None
    box: sandbox.Sandbox | None = None
    try:
        public_port, protected_port = process.free_port(), process.free_port()
        box = sandbox.create(
            values_dir,
            node,
            root / "cache",
            origin=f"127.0.0.1:{public_port}",
            extra={
                "auth.enabled": auth,
                "origin.auth": origin.address(protected_port, protected=True) if auth else None,
                "k8s.drain": "5s",
                "exporter.address": "127.0.0.1",
                "exporter.scan_interval": "10s",
                "monitoring.interval": "5s",
                "selftest.miss_path": MISS_PATH,
                "selftest.auth_miss_path": MISS_PATH if auth else None,  # both origins serve it
                "selftest.interval": "15s",
            },
        )
        v = box.values
        protected = [ns.path for ns in v["namespaces.protected"]]
        if auth and not (protected and v["namespaces.protected"][0].dns):
            print(f"cachemgr demo --auth: node {node} has no protected namespace with dns to demo", file=sys.stderr)
            return 1
        origins.append(origin.start(root / "origin", v["xrootd.user"], public_port))
        _origin_files(origins[0].data, protected[0] if protected else "/protected")
        if auth:
            assert box.ca is not None
            host_dn = throwaway.oneline(load_cert(Path(v["auth.hostcert"])).subject)
            guard = origin.Protection(box.ca, Path(v["auth.cadir"]), {host_dn: "cache"})
            origins.append(origin.start(root / "protected-origin", v["xrootd.user"], protected_port, guard))
            _origin_files(origins[1].data, protected[0])
        supervisor = box.supervise(sys.stderr)  # the container's entrypoint, as in the image
        for inst in box.instances:
            process.wait_ready(box.log("xrootd", inst.name), inst.name, supervisor, timeout=30)
        lines = {
            "ORIGIN_XROOT": f"root://127.0.0.1:{public_port}",
            "ORIGIN_DIR": str(origins[0].data),
            "CACHE_XROOT": f"root://127.0.0.1:{v['ports.xroot']}",
            "CACHE_HTTP": f"http://127.0.0.1:{v['ports.http']}",
            "CACHE_DIR": v["cache.root"],
            "SAMPLE": SAMPLE,
            "PROTECTED": protected[0] if protected else "",
            "METRICS": f"http://127.0.0.1:{v['ports.metrics']}/metrics",
            **(_reader(box, root) if auth else {}),
        }
        for key, value in lines.items():
            print(f"{key}={value}", flush=True)
        _wait_for_signal()
        return 0
    except process.StartError as e:
        print(f"cachemgr demo: {e}: {e.cause()}", file=sys.stderr)
        return 1
    finally:
        if supervisor is not None and supervisor.poll() is None:
            supervisor.terminate()
            try:
                supervisor.wait(STOP_WITHIN)
            except subprocess.TimeoutExpired:
                os.killpg(supervisor.pid, signal.SIGKILL)
                supervisor.wait()
        for up in origins:
            up.daemon.stop(timeout=1)
        if box is not None:
            sandbox.remove(box)
        shutil.rmtree(root, ignore_errors=True)
