"""`cachemgr demo --fleet N`: an origin, a real cache redirector and N caches reporting to it, on 127.0.0.1.

Each cache is the example site's `stashcache-cmsd` node (xrootd and cmsd, reporting to a redirector), relocated
with its own ports, cache dir and run dir, under its own `cachemgr supervise`. As root each supervise is PID 1 of
its own PID namespace, so `kill -9` of it takes the whole node with it, as when a pod or machine dies: supervisord's
programs call setpgrp and would otherwise outlive it. SIGUSR1 starts every node that is gone again, with the same
dirs and ports, and prints FLEET_PIDS anew. Killed itself, its reaper (reaper.py) removes the whole fleet.
"""

from __future__ import annotations

import dataclasses
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO

import psutil

from cachemgr.core import procs
from cachemgr.local import reaper as reap
from cachemgr.local import sandbox
from cachemgr.local.demo import origin_files
from cachemgr.local.xrootd import origin, process, redirector
from cachemgr.render.engine import render_fleet
from cachemgr.render.site import load_nodes
from cachemgr.runtime.logs import Relay
from cachemgr.values.resolve import NodeValues

NODE = "stashcache-cmsd"  # the example node that reports to a cache redirector
# What the demo changes besides ports and paths: a short drain, local metrics, and a redirector that serves at
# once, decides a miss within a second and gives up a dead cache after 5 s (cms.* defaults suit a production
# redirector, whose caches may restart within its drop delay, not a demo).
EXTRA = {
    "k8s.drain": "12s",
    "exporter.address": "127.0.0.1",
    "exporter.scan_interval": "10s",
    "monitoring.interval": "5s",
    "selftest.miss_path": "/sample/random-1m.bin",
    "selftest.interval": "60s",
    "cache.ram": "1g",
    "cms.lookup_delay": "1s",
    "cms.startup_delay": "1s",
    "cms.drop_delay": "5s",
    "cms.service_delay": "1s",
    "cms.ping": "3s",
}


def _relay(stream: IO[bytes], prefix: str, out: IO[str]) -> None:
    """A node's supervise output (its programs' `[program] line`s), each line prefixed with the node's name."""
    for line in stream:
        out.write(f"{prefix}{line.decode(errors='replace')}")
        out.flush()


class Node:
    """One cache of the fleet: its sandbox and the supervise running it (in its own PID namespace as root)."""

    def __init__(self, name: str, box: sandbox.Sandbox, rdr: redirector.Redirector) -> None:
        self.name, self.box, self.redirector = name, box, rdr
        self.launcher: subprocess.Popen | None = None  # unshare, or supervise itself
        self.pid = 0  # supervise's pid on this host

    @property
    def values(self) -> NodeValues:
        return self.box.values

    @property
    def url(self) -> str:
        return f"root://127.0.0.1:{self.values['ports.xroot']}"

    @property
    def metrics(self) -> str:
        return f"http://127.0.0.1:{self.values['ports.metrics']}/metrics"

    def alive(self) -> bool:
        return self.launcher is not None and self.launcher.poll() is None

    def start(self, out: IO[str]) -> None:
        """Start the node; return once its xrootd serves and its cmsd has logged in to the redirector."""
        since = self.box.log_offsets()
        login_since = _size(self.redirector.log("cmsd"))
        isolate = process.is_root() and shutil.which("unshare") is not None
        launcher = ["unshare", "--pid", "--fork", "--kill-child", "--"] if isolate else []
        self.launcher = self.box.supervise(subprocess.PIPE, launcher)
        threading.Thread(target=_relay, args=(self.launcher.stdout, f"[{self.name}] ", out), daemon=True).start()
        self.pid = _child(self.launcher.pid) if isolate else self.launcher.pid
        self.box.wait_serving(self.launcher, since, timeout=30)
        self.redirector.wait_login(self.values["ports.xroot"], self.launcher, timeout=30, since=login_since)

    def stop(self) -> None:
        """SIGTERM to supervise (it drains, then stops its programs); SIGKILL to it after STOP_WITHIN, which as PID 1
        of its namespace kills every process of the node."""
        if self.launcher is not None:
            procs.stop(self.launcher, sandbox.STOP_WITHIN, target=self.pid)


class _Stopped(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _stop_if_asked(signals: queue.SimpleQueue[int]) -> None:
    """Between start-up steps (a step is never broken off halfway: what it started is known and stopped): raise
    _Stopped when SIGINT or SIGTERM has arrived. A step takes seconds; one that hangs is bounded by its own waits
    (30 s for xrootd to serve, 30 s for cmsd's login)."""
    while not signals.empty():
        if (signum := signals.get()) != signal.SIGUSR1:
            raise _Stopped(signum)


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _child(pid: int, timeout: float = 10) -> int:
    """The one child of pid (unshare --fork's), once it has forked it."""
    what = f"unshare (pid {pid}) started no supervise"
    return procs.wait_until(psutil.Process(pid).children, timeout, 0.02, what, error=process.StartError)[0].pid


def run(values_dir: Path, size: int) -> int:
    if size < 2:
        print("cachemgr demo --fleet: a fleet has at least 2 caches", file=sys.stderr)
        return 2
    if not (shutil.which("xrootd") and shutil.which("cmsd")):
        print("cachemgr demo: xrootd and cmsd are not installed; run images/install.sh first", file=sys.stderr)
        return 1
    signals: queue.SimpleQueue[int] = queue.SimpleQueue()  # each signal's number, as it arrives
    procs.on_signals((signal.SIGINT, signal.SIGTERM, signal.SIGUSR1), signals.put)
    root = Path(tempfile.mkdtemp(prefix="cachemgr-fleet-"))
    root.chmod(0o755)  # xrootd runs as its own user
    reaper = reap.start(root)  # killed or not, the demo leaves nothing
    up: origin.OriginServer | None = None
    rdr: redirector.Redirector | None = None
    nodes: list[Node] = []
    relay: Relay | None = None
    try:
        (v,) = load_nodes(values_dir, [NODE], EXTRA)  # the site's values: the redirector's cms.* and the user
        user = sandbox.run_user(v["xrootd.user"])
        up = origin.start(root / "origin", user)
        _stop_if_asked(signals)
        origin_files(up.data, "/protected")
        rdr = redirector.start(root / "redirector", user, v)
        relay = Relay(rdr.root / "log", sys.stderr)
        relay.start()
        _stop_if_asked(signals)
        # node.hostname: where the rendered scrape job finds each node's exporter (exporter.address).
        extra = {**EXTRA, "redirector": rdr.manager, "node.hostname": "127.0.0.1"}
        for i in range(size):
            box = sandbox.create(values_dir, NODE, root / f"cache-{i + 1}", up.address, extra)
            nodes.append(Node(f"cache-{i + 1}", box, rdr))
        for node in nodes:
            node.start(sys.stderr)
            _stop_if_asked(signals)
        # The scrape job `cachemgr render` writes to k8s/fleet/, for these nodes under their own names.
        scrape = root / "prometheus-scrape.yml"
        fleet = [dataclasses.replace(n.values, name=n.name) for n in nodes]
        scrape.write_text(render_fleet(fleet)["prometheus-scrape.yml"])
        lines = {
            "ORIGIN_XROOT": f"root://{up.address}",
            "ORIGIN_DIR": str(up.data),
            "REDIRECTOR_XROOT": f"root://127.0.0.1:{rdr.port}",
            "REDIRECTOR_HTTP": f"http://127.0.0.1:{rdr.http_port}",
            "FLEET_CACHES": ",".join(n.url for n in nodes),
            "FLEET_DIRS": ",".join(n.values["cache.root"] for n in nodes),
            "FLEET_METRICS": ",".join(n.metrics for n in nodes),
            "FLEET_PIDS": ",".join(str(n.pid) for n in nodes),
            "FLEET_SCRAPE": str(scrape),
        }
        for key, value in lines.items():
            print(f"{key}={value}", flush=True)
        while signals.get() == signal.SIGUSR1:
            for node in nodes:
                if not node.alive():
                    node.start(sys.stderr)
            print(f"FLEET_PIDS={','.join(str(n.pid) for n in nodes)}", flush=True)
        return 0
    except process.StartError as e:
        print(f"cachemgr demo --fleet: {e}: {e.cause()}", file=sys.stderr)
        return 1
    except _Stopped as e:
        print(f"cachemgr demo --fleet: {signal.Signals(e.signum).name} while starting: stopping", file=sys.stderr)
        return 128 + e.signum
    finally:
        threads = [threading.Thread(target=n.stop) for n in nodes]  # in parallel: each may drain
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if rdr is not None:
            rdr.stop(timeout=0.5)
        if up is not None:
            up.daemon.stop(timeout=0.5)
        if relay is not None:
            relay.stop.set()
            relay.join(2)
        shutil.rmtree(root, ignore_errors=True)
        reaper.close()
