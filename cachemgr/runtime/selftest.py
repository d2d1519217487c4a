"""`cachemgr selftest`: prove, every interval, that the cache serves hits and misses.

hit:  plant a small file with a complete v4 .cinfo in the namespace, read it back over xroot and HTTP
      (a cache that only breaks hits must be caught), then remove it.
miss: fetch selftest.miss_path from the origin through the cache, after evicting the copy the last
      run left (evicting before, not after, leaves PFC time to finish writing it).
miss_auth: the same through the authenticated instance, when it runs: anonymously over HTTP, so what is
      proven is the cache's own login to its origin (an expired proxy fails here, not at the client).
disk: bytes and inodes in use on every disk, against the limits.
Results go to paths.run/selftest.json, for `cachemgr health --ready` and the exporter.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cachemgr.core import files, supervisor_rpc
from cachemgr.core.pod import Instance, Runtime
from cachemgr.runtime.health import disk_problems
from cachemgr.xcache.cinfo import Cinfo, encode, n_blocks

PLANT_DIR = ".cachemgr-selftest"
PLANT_SIZE = 64 * 1024


def _xroot_get(port: int, path: str, timeout: int) -> bytes:
    env = {**os.environ, "XRD_CONNECTIONRETRY": "1", "XRD_REQUESTTIMEOUT": str(timeout)}
    result = subprocess.run(
        ["xrdcp", "-f", "-s", f"root://127.0.0.1:{port}/{path}", "-"], capture_output=True, timeout=timeout + 5, env=env
    )
    if result.returncode:
        lines = result.stderr.decode(errors="replace").strip().splitlines()
        raise OSError(lines[-1] if lines else f"xrdcp exited {result.returncode}")
    return result.stdout


def _http_get(port: int, path: str, timeout: int) -> bytes:
    # Plain http:// also reaches the authenticated instance (its port speaks both), as an anonymous reader.
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as response:
        return response.read()


def plant(root: Path, blocksize: int, user: str) -> tuple[str, bytes]:
    """A file and its complete .cinfo, as the cache itself would have written them."""
    data = os.urandom(PLANT_SIZE)
    name = f"/{PLANT_DIR}/hit-{uuid.uuid4().hex}.bin"
    blocks = n_blocks(len(data), blocksize)
    info = Cinfo(
        version=4,
        buffer_size=blocksize,
        file_size=len(data),
        created=int(time.time()),
        no_cksum_time=0,
        access_count=0,
        cksum="none",
        bitvec=((1 << blocks) - 1).to_bytes((blocks + 7) // 8, "little"),
        accesses=(),
    )
    files.install(root / name.lstrip("/"), data, 0o600, user)
    files.install(root / f"{name.lstrip('/')}.cinfo", encode(info), 0o600, user)
    return name, data


def remove_probe(root: Path, path: str) -> None:
    """Remove a file the self-test reads: data (and, with data disks, the space file its link points to) and .cinfo.

    Not xcache's Remover: it skips a file some xrootd has open, which would turn the miss check into a hit that
    proves nothing, and it needs every xrootd's fds from /proc. These files are the self-test's own, read by it
    alone and closed by now."""
    for cached in (root / path.lstrip("/"), root / f"{path.lstrip('/')}.cinfo"):
        if cached.is_symlink():
            cached.resolve().unlink(missing_ok=True)
        cached.unlink(missing_ok=True)


def _check(fn: Callable[[], str]) -> dict[str, Any]:
    start = time.monotonic()
    try:
        return {"ok": True, "detail": fn(), "seconds": round(time.monotonic() - start, 3)}
    except Exception as e:  # any failure is a result to report, not a crash
        return {"ok": False, "detail": str(e) or type(e).__name__, "seconds": round(time.monotonic() - start, 3)}


def _running(rt: Runtime) -> list[Instance]:
    """The instances supervisord runs (supervise leaves the authenticated one out without credentials)."""
    try:
        programs = supervisor_rpc.programs(rt.run)
    except OSError:
        programs = {}
    return [i for i in rt.instances if i.name == "noauth" or f"xrootd-{i.name}" in programs]


def run_once(rt: Runtime) -> dict[str, Any]:
    instances = {i.name: i for i in _running(rt)}
    inst = instances["noauth"]
    root, timeout = Path(inst.root), rt.selftest.timeout
    name, data = plant(root, rt.blocksize, rt.user)

    def hit(get) -> Callable[[], str]:
        def fetch() -> str:
            if get(name) != data:
                raise ValueError(f"{name}: content differs from what was planted")
            return f"{len(data)} bytes"

        return fetch

    def miss(via: Instance, param: str, get: Callable[[int, str, int], bytes]) -> dict[str, Any]:
        path = getattr(rt.selftest, param)
        if not path:
            return {"ok": None, "detail": f"selftest.{param} unset", "seconds": 0}

        def fetch() -> str:
            remove_probe(Path(via.root), path)
            return f"{len(get(via.port, path, timeout))} bytes of {path} from the origin"

        return _check(fetch)

    def disks() -> str:
        problems = disk_problems(rt)
        if problems:
            raise ValueError("; ".join(problems))
        return f"{len(rt.disks)} disk(s) below their limits"

    try:
        checks = {
            "hit_xroot": _check(hit(lambda p: _xroot_get(inst.port, p, timeout))),
            "hit_http": _check(hit(lambda p: _http_get(inst.http_port, p, timeout))),
            "miss": miss(inst, "miss_path", _xroot_get),
            "disk": _check(disks),
        }
        if "auth" in instances:
            checks["miss_auth"] = miss(instances["auth"], "auth_miss_path", _http_get)
    finally:
        remove_probe(root, name)
    return {"time": time.time(), "ok": all(c["ok"] is not False for c in checks.values()), "checks": checks}


def loop(rt: Runtime, once: bool = False) -> int:
    while True:
        result = run_once(rt)
        files.install_json(rt.run.selftest, result)
        failed = [f"{n}: {c['detail']}" for n, c in result["checks"].items() if c["ok"] is False]
        print("self-test passed" if result["ok"] else f"self-test FAILED: {'; '.join(failed)}", flush=True)
        if once:
            return 0 if result["ok"] else 1
        time.sleep(rt.selftest.interval)
