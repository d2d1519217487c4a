"""`cachemgr demo`: a real origin and the example `local` node's cache, on 127.0.0.1, until a signal."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from cachemgr import sandbox
from cachemgr.render.engine import environment
from cachemgr.xrootd import process

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


def run(values_dir: Path, node: str = "local") -> int:
    if not shutil.which("xrootd"):
        print("cachemgr demo: xrootd is not installed; run images/install.sh first", file=sys.stderr)
        return 1
    root = Path(tempfile.mkdtemp(prefix="cachemgr-demo-"))
    origin: process.Daemon | None = None
    supervisor: subprocess.Popen | None = None
    box: sandbox.Sandbox | None = None
    try:
        origin_port = process.free_port()
        box = sandbox.create(
            values_dir,
            node,
            root / "cache",
            origin=f"127.0.0.1:{origin_port}",
            extra={
                "auth.enabled": False,
                "k8s.drain": "5s",
                "exporter.address": "127.0.0.1",
                "exporter.scan_interval": "10s",
                "monitoring.interval": "5s",
                "selftest.miss_path": MISS_PATH,
                "selftest.interval": "15s",
            },
        )
        protected = [ns.path for ns in box.values["namespaces.protected"]]
        data = root / "origin" / "data"
        _origin_files(data, protected[0] if protected else "/protected")
        (root / "origin" / "run").mkdir()
        config = root / "origin" / "origin.cfg"
        config.write_text(
            environment()
            .get_template("demo-origin.cfg.j2")
            .render(data=data, run=root / "origin" / "run", port=origin_port)
        )
        if process.is_root():
            shutil.chown(root, box.values["xrootd.user"], box.values["xrootd.user"])
            for path in (root / "origin").rglob("*"):
                shutil.chown(path, box.values["xrootd.user"], box.values["xrootd.user"])
        origin = process.start(
            "xrootd",
            "origin",
            config,
            root / "origin" / "origin.log",
            root / "origin" / "run",
            user=box.values["xrootd.user"],
        )
        supervisor = box.supervise(sys.stderr)  # the container's entrypoint, as in the image
        process.wait_ready(box.log("xrootd", "noauth"), "noauth", supervisor, timeout=30)
        v = box.values
        lines = {
            "ORIGIN_XROOT": f"root://127.0.0.1:{origin_port}",
            "ORIGIN_DIR": str(data),
            "CACHE_XROOT": f"root://127.0.0.1:{v['ports.xroot']}",
            "CACHE_HTTP": f"http://127.0.0.1:{v['ports.http']}",
            "CACHE_DIR": v["cache.root"],
            "SAMPLE": SAMPLE,
            "PROTECTED": protected[0] if protected else "",
            "METRICS": f"http://127.0.0.1:{v['ports.metrics']}/metrics",
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
        if origin is not None:
            origin.stop(timeout=1)
        if box is not None:
            sandbox.remove(box)
        shutil.rmtree(root, ignore_errors=True)
