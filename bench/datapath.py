"""Read a big file with xrdcp through the rendered cache vs straight from the origin, on loopback.

Targets (issue 2): cache hit >= 0.90x and first (miss) read >= 0.50x the direct throughput, measured in
the same run. The cache is the example site's `local` node as cachemgr renders it (k8s/), relocated by
`cachemgr.local.sandbox` with auth off; the origin is the demo's plain xrootd data server.

Each round starts a fresh, empty cache and reads: direct, miss, then `--hits` times (direct, hit). Every
cache read is also divided by the direct read just before it ("paired"), which cancels slow drifts in
the machine's load. MB = 10^6 bytes; time is xrdcp's wall time.

python bench/datapath.py [--size 1g] [--rounds 3] [--hits 2] [--extra KEY=VALUE ...]
    --extra overrides a parameter of the node (docs/parameters.md), e.g. --extra cache.ram=4g or
    --extra 'xrootd.extra=["xrd.sched mint 8"]' (values are YAML).

As root it re-executes itself in a private network namespace: the servers can only ever see 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from common import private_netns

from cachemgr.core.units import format_size, parse_size
from cachemgr.local import sandbox
from cachemgr.local.xrootd import origin, process
from cachemgr.render.site import load_nodes
from cachemgr.values.load import ValuesError

REPO = Path(__file__).resolve().parents[1]
NODE = "local"
# A name of our own: other tools on a shared machine start (and stop) their own `-n origin`.
ORIGIN_NAME = "datapath-origin"
HIT_TARGET, MISS_TARGET = 0.90, 0.50
_STAMP = re.compile(r"^\d{6} \d\d:\d\d:\d\d \d+ ")  # xrootd's log line prefix
# A dead port makes xrdcp retry for ~2 min; one retry is enough on loopback, and the timeout bounds the rest.
_CLIENT_ENV = {"XRD_CONNECTIONRETRY": "1", "XRD_CONNECTIONWINDOW": "5"}


@dataclass
class Results:
    direct: list[float] = field(default_factory=list)
    miss: list[float] = field(default_factory=list)
    hit: list[float] = field(default_factory=list)
    paired_miss: list[float] = field(default_factory=list)
    paired_hit: list[float] = field(default_factory=list)
    notes: set[str] = field(default_factory=set)


class Bench:
    def __init__(self, root: Path, size: int, extra: dict[str, Any]):
        self.root = root
        self.size = size
        self.extra = {"auth.enabled": False, **extra}
        self.path = f"/datapath/blob-{format_size(size)}.bin"
        self.timeout = 60 + size / 20e6  # generous: even 20 MB/s finishes
        self.origin: origin.OriginServer | None = None
        self.box: sandbox.Sandbox | None = None

    def start_origin(self) -> None:
        """The demo's origin, serving one file of random bytes (nothing for the disks to compress)."""
        base = self.root / "origin"
        self.root.chmod(0o755)  # xrootd runs as its own user: it must reach base
        blob = base / "data" / self.path.lstrip("/")
        blob.parent.mkdir(parents=True)
        with open(blob, "wb") as f:
            for done in range(0, self.size, 16 << 20):
                f.write(os.urandom(min(16 << 20, self.size - done)))
        self.origin = origin.start(base, sandbox.run_user(), name=ORIGIN_NAME)

    def start_cache(self, n: int) -> None:
        """A fresh sandbox per round: new dirs, so the miss really goes to the origin."""
        self.box = sandbox.create(
            REPO / "k8s", NODE, self.root / f"cache{n}", origin=self.origin.address, extra=self.extra
        )
        self.box.start_daemons(isolate=False)

    def stop_cache(self, notes: set[str]) -> None:
        """Stop and delete the round's cache, keeping its log's sendfile lines (why hits trail direct reads)."""
        if self.box is None:
            return
        box, self.box = self.box, None
        box.stop()
        log = box.log("xrootd", box.instances[0].name)
        if log.exists():
            lines = log.read_text(errors="replace").splitlines()
            notes.update(_STAMP.sub("", line).strip() for line in lines if "sendfile" in line)
        sandbox.remove(box)
        for inst in box.instances:
            self.drop_env(inst.name)

    def read(self, port: int) -> float:
        """MB/s of one `xrdcp -f` of the file to /dev/null."""
        for daemon in [self.origin.daemon, *(self.box.daemons if self.box else [])]:
            if daemon.proc.poll() is not None:
                raise RuntimeError(f"{daemon.name} died (rc {daemon.proc.returncode}):\n{daemon.log_tail()}")
        cmd = ["xrdcp", "-f", "-s", f"root://127.0.0.1:{port}/{self.path}", "/dev/null"]
        t0 = time.perf_counter()
        r = subprocess.run(cmd, env={**os.environ, **_CLIENT_ENV}, capture_output=True, text=True, timeout=self.timeout)
        elapsed = time.perf_counter() - t0
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()[-500:]}")
        return self.size / 1e6 / elapsed

    def direct(self) -> float:
        return self.read(self.origin.port)

    def wait_cached(self, limit: float = 60) -> None:
        """Until the cache has the whole file on disk: its writes may lag the client's close."""
        assert self.box is not None
        cached = Path(self.box.instances[0].root) / self.path.lstrip("/")  # may be a symlink to a data disk
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if cached.exists() and cached.stat().st_blocks * 512 >= self.size:
                return
            time.sleep(0.1)
        print(f"  warning: {cached} not complete after {limit:.0f}s; the hit may partly miss", flush=True)

    def run(self, rounds: int, hits: int) -> Results:
        res = Results()
        self.direct()  # warm-up: the origin file in the page cache, as it would be for repeated direct reads
        for n in range(1, rounds + 1):
            self.start_cache(n)
            assert self.box is not None
            port = self.box.values["ports.xroot"]
            d = self.direct()
            m = self.read(port)
            res.direct.append(d)
            res.miss.append(m)
            res.paired_miss.append(m / d)
            line = [f"round {n}: direct {d:4.0f}  miss {m:4.0f} ({m / d:.2f})"]
            self.wait_cached()
            for _ in range(hits):
                d = self.direct()
                h = self.read(port)
                res.direct.append(d)
                res.hit.append(h)
                res.paired_hit.append(h / d)
                line.append(f"direct {d:4.0f}  hit {h:4.0f} ({h / d:.2f})")
            print("  " + "  |  ".join(line) + "  MB/s", flush=True)
            self.stop_cache(res.notes)
        return res

    def close(self) -> None:
        if self.box is not None:
            self.stop_cache(set())
        if self.origin is not None:
            self.origin.stop()
            self.drop_env(ORIGIN_NAME)

    def drop_env(self, name: str) -> None:
        """xrootd leaves /tmp/xrootd.NAME.env behind; remove it when it is ours (others use the same names)."""
        env = Path("/tmp") / f"xrootd.{name}.env"
        with contextlib.suppress(OSError):
            if str(self.root) in env.read_text():
                env.unlink()


def report(res: Results) -> None:
    med = statistics.median
    direct = med(res.direct)
    print(f"direct  {direct:5.0f} MB/s  (median of {len(res.direct)})")
    for kind, runs, paired, target in (
        ("miss", res.miss, res.paired_miss, MISS_TARGET),
        ("hit", res.hit, res.paired_hit, HIT_TARGET),
    ):
        ratio = med(runs) / direct
        verdict = "met" if ratio >= target else "MISSED"
        print(
            f"{kind:6}  {med(runs):5.0f} MB/s  (median of {len(runs)})  ratio {ratio:.2f}  paired {med(paired):.2f}  "
            f"target >= {target:.2f}x: {verdict}"
        )
    for note in sorted(res.notes):
        print(f"cache log: {note}")


def parse_extra(items: list[str]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"datapath: --extra {item!r}: use KEY=VALUE")
        extra[key.strip()] = yaml.safe_load(value)
    return extra


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--size", default="1g", help="file size (default 1g)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds, each with a fresh cache (default 3)")
    ap.add_argument("--hits", type=int, default=2, help="hit reads per round (default 2)")
    ap.add_argument("--extra", action="append", default=[], metavar="KEY=VALUE", help="override a node parameter")
    args = ap.parse_args()
    if args.rounds < 1 or args.hits < 1:
        ap.error("--rounds and --hits must be at least 1")
    for tool in ("xrootd", "xrdcp"):
        if not shutil.which(tool):
            print(f"datapath: {tool} is not installed; run images/install.sh first", file=sys.stderr)
            return 1
    size, extra = parse_size(args.size), parse_extra(args.extra)
    private_netns()
    # SIGTERM unwinds like Ctrl-C, through the cleanup below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    root = Path(tempfile.mkdtemp(prefix="cachemgr-datapath-"))
    bench = Bench(root, size, extra)
    overrides = ", ".join(f"{k}={v!r}" for k, v in bench.extra.items())
    print(f"datapath: {format_size(size)} file, {args.rounds} rounds x {args.hits} hits, node {NODE} ({overrides})")
    try:
        load_nodes(REPO / "k8s", [NODE], bench.extra)  # bad overrides fail now, before writing the big file
        bench.start_origin()
        report(bench.run(args.rounds, args.hits))
        return 0
    except ValuesError as e:
        print(f"datapath: {e}", file=sys.stderr)
        return 1
    except process.StartError as e:
        print(f"datapath: {e}: {e.cause()}", file=sys.stderr)
        return 1
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"datapath: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("datapath: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        bench.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
