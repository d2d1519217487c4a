"""How soon a cache xrootd killed with SIGKILL under `cachemgr supervise` serves a cached file again, seen by a client.

Target (issue 2): <= 2 s from the kill to the first correct read.

A plain origin (the demo's xrootd) serves one file of random bytes. The example site's `local` node, relocated by
`cachemgr.local.sandbox` with auth off, runs under `cachemgr supervise`; the file is read once through it, so later
reads are hits. Each round waits until supervisord has the cache xrootd RUNNING again (past startsecs), kills it with
SIGKILL, then starts an HTTP GET of the file every 20 ms until one returns 200 with the right sha256. The figure is
the time from the kill to the end of that read. A read that never succeeds within --bound seconds fails the bench
(exit 1). Nothing talks to supervisord between the kill and that read: an XML-RPC call wakes its event loop, which
then starts the new process at once, so a bench polling supervisord measures its own polling.

Breakdown of each round (wall clock; supervisord logs with ms, xrootd's log is polled every 20 ms):
  reap     kill -> supervisord logs "exited:". Its poll wakes on the dead process's closed output pipe; when that
           comes before the kernel has the process ready for waitpid, the reap waits for the loop's next pass.
  respawn  "exited:" -> "spawned:". supervisord starts programs on its event loop's next pass: poll timeout 1 s.
  init     "spawned:" -> xrootd's "initialization completed" line appears in its log.
  serve    that line -> the first correct read ends (0 when the read succeeded before the line was seen).

--compare runs a second pod beside the first, rounds alternating between the two, whose supervisord polls at
most every --poll-cap seconds instead of every 1 s. There is no supervisord setting for that: the bench patches
supervisord's poller through a sitecustomize on PYTHONPATH (that pod only). It also reports each supervisord's CPU
time over the rounds, what the shorter poll costs.

python bench/restart.py [--kills 20] [--bound 10] [--budget 300] [--size 1m] [--compare [--poll-cap 0.1]] [-v]
    As root it re-executes itself in a private network namespace: the servers can only ever see 127.0.0.1.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import common

from cachemgr.core import supervisor_rpc
from cachemgr.core.pod import RunDir, load_runtime
from cachemgr.core.units import parse_size
from cachemgr.local import sandbox
from cachemgr.local.xrootd import origin, process
from cachemgr.runtime import health

REPO = Path(__file__).resolve().parents[1]
NODE = "local"
PROGRAM = "xrootd-noauth"
ORIGIN_NAME = "restart-origin"  # our own name: other tools on a shared machine start and stop their own `-n origin`
PATH = "/restart/file.bin"
TARGET = 2.0
POLL = 0.02
# supervisord's log: "2026-11-22 10:00:00,123 WARN exited: xrootd-noauth (terminated by SIGKILL; not expected)"
_SUPERVISORD = re.compile(
    r"^(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \S+ "
    r"(?:(?P<exited>exited): (?P<xname>\S+) |(?P<spawned>spawned): '(?P<sname>[^']+)' with pid (?P<pid>\d+))",
    re.M,
)
_INIT = re.compile(r"^------ xrootd \S+ initialization completed\.", re.M)
# Only for --compare's second pod: supervisord's event loop polls with a 1 s timeout, hard-coded in runforever().
_POLL_CAP = """\
import os, sys
if sys.orig_argv[1:3] == ["-m", "supervisor.supervisord"]:
    from supervisor import poller
    _cap, _poll = float(os.environ["CACHEMGR_BENCH_POLL_CAP"]), poller.Poller.poll
    poller.Poller.poll = lambda self, timeout: _poll(self, min(timeout, _cap))
"""


class BenchFailed(Exception):
    pass


def get(port: int, path: str, timeout: float) -> bytes | None:
    """The body of a 200 GET, else None (refused, reset, cut short, another status). No proxy: straight to lo."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        return body if response.status == 200 else None
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


@dataclass
class Round:
    total: float  # kill -> end of the first correct read
    reap: float  # kill -> supervisord's "exited:"
    respawn: float  # "exited:" -> "spawned:"
    init: float  # "spawned:" -> xrootd's "initialization completed" seen in its log
    serve: float  # that -> end of the first correct read
    attempts: int  # GETs started


class Pod:
    """The node's cache under `cachemgr supervise`, with the file read once through it."""

    def __init__(self, label: str, root: Path, origin_address: str, content: bytes, env: dict[str, str] | None = None):
        self.label = label
        self.box = sandbox.create(REPO / "k8s", NODE, root, origin=origin_address, extra={"auth.enabled": False})
        self.run = RunDir(Path(self.box.values["paths.run"]))
        self.log = Path(self.box.values["paths.log"])
        self.http = self.box.values["ports.http"]
        self.content = content
        self.want = hashlib.sha256(content).hexdigest()
        self.out = root / "supervise.out"
        saved = dict(os.environ)
        os.environ.update(env or {})  # supervise and everything it starts inherit it
        try:
            with open(self.out, "wb") as out:
                self.proc = self.box.supervise(out)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        self.rounds: list[Round] = []
        self.cpu_from = (0.0, 0.0)

    def reads_correctly(self, timeout: float = 2) -> bool:
        body = get(self.http, PATH, timeout)
        return body is not None and hashlib.sha256(body).hexdigest() == self.want

    def start(self, timeout: float = 60) -> None:
        """Until live, then one read (a miss) and until the cache holds the whole file on disk."""
        rt = load_runtime(self.box.config_dir)
        deadline = time.monotonic() + timeout
        while problems := health.live(rt):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise BenchFailed(f"the cache did not come up: {problems}\n{self.tail(self.out)}")
            time.sleep(0.2)
        while not self.reads_correctly(timeout=10):
            if time.monotonic() > deadline:
                raise BenchFailed(f"the first read of {PATH} through the cache failed\n{self.tail(self.xrootd_log)}")
            time.sleep(0.2)
        cached = Path(self.box.instances[0].root) / PATH.lstrip("/")  # may be a symlink to a data disk
        while not (cached.exists() and cached.stat().st_blocks * 512 >= len(self.content)):
            if time.monotonic() > deadline:
                raise BenchFailed(f"{cached} is not complete on disk")
            time.sleep(0.1)

    @property
    def xrootd_log(self) -> Path:
        return self.log / f"{PROGRAM}.log"

    @staticmethod
    def tail(path: Path, lines: int = 15) -> str:
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError as e:
            return f"({path}: {e.strerror})"

    def running(self, timeout: float) -> int:
        """Until supervisord has the program RUNNING (so past startsecs: a kill then is a normal exit, no backoff)."""
        deadline = time.monotonic() + timeout
        while True:
            info = supervisor_rpc.programs(self.run)[PROGRAM]
            if info["statename"] == "RUNNING" and info["pid"]:
                return info["pid"]
            if time.monotonic() > deadline:
                raise BenchFailed(f"{PROGRAM} is {info['statename']} after {timeout:.0f}s")
            time.sleep(0.1)

    def kill_round(self, bound: float) -> Round:
        pid = self.running(timeout=30)
        time.sleep(0.2)  # let that XML-RPC call's wake-up of supervisord pass
        supervisord_at = (self.log / "supervisord.log").stat().st_size
        xrootd_log = open(self.xrootd_log, "rb")  # noqa: SIM115 (closed below)
        xrootd_log.seek(0, os.SEEK_END)
        seen, init_seen = b"", None
        killed = time.time()
        os.kill(pid, signal.SIGKILL)
        attempts, slot = 0, time.monotonic()
        try:
            while True:
                if init_seen is None:
                    seen += xrootd_log.read()
                    if _INIT.search(seen.decode(errors="replace")):
                        init_seen = time.time()
                attempts += 1
                if self.reads_correctly(timeout=max(0.05, bound - (time.time() - killed))):
                    done = time.time()
                    break
                if time.time() - killed > bound:
                    raise BenchFailed(
                        f"no correct read of {PATH} within {bound:g}s of kill -9 {pid} ({attempts} GETs)\n"
                        f"--- supervisord.log\n{self.tail(self.log / 'supervisord.log', 6)}\n"
                        f"--- {self.xrootd_log.name}\n{self.tail(self.xrootd_log)}"
                    )
                slot += POLL
                time.sleep(max(0.0, slot - time.monotonic()))
        finally:
            xrootd_log.close()
        exited, spawned = self.supervisord_events(supervisord_at, pid)
        init = (init_seen or done) - spawned
        return Round(done - killed, exited - killed, spawned - exited, init, done - (init_seen or done), attempts)

    def supervisord_events(self, offset: int, old_pid: int) -> tuple[float, float]:
        """When supervisord logged the program's exit and the new process's spawn, after offset."""
        with open(self.log / "supervisord.log", "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
        exited = spawned = None
        for m in _SUPERVISORD.finditer(text):
            at = datetime.strptime(m["at"], "%Y-%m-%d %H:%M:%S,%f").timestamp()  # local time, as supervisord logs
            if m["exited"] and m["xname"] == PROGRAM and exited is None:
                exited = at
            elif m["spawned"] and m["sname"] == PROGRAM and int(m["pid"]) != old_pid and spawned is None:
                spawned = at
        if exited is None or spawned is None:
            raise BenchFailed(f"supervisord.log lacks the exit or the spawn of {PROGRAM}:\n{text[-2000:]}")
        return exited, spawned

    def supervisord_cpu(self) -> float:
        """supervisord's CPU seconds so far (user + system), from /proc."""
        pid = int(self.run.supervisor_pid.read_text())
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def cpu_used(self) -> str:
        """supervisord's CPU time since cpu_from."""
        cpu, since = self.cpu_from
        used, wall = self.supervisord_cpu() - cpu, time.monotonic() - since
        return f"{used:.2f}s in {wall:.0f}s ({100 * used / wall:.2f}% of a core)"

    def stop(self) -> None:
        common.stop(self.proc, 60)


def report(label: str, rounds: list[Round], wanted: int) -> bool:
    """Print the figures; True when every wanted round ran (a spent --budget makes the run INCOMPLETE)."""
    if not rounds:
        print(f"{label}: no round ran: INCOMPLETE")
        return False
    totals = [r.total for r in rounds]
    over = sum(t > TARGET for t in totals)
    print(
        f"{label}: kill -9 -> first correct read: n={len(rounds)} of {wanted} median={statistics.median(totals):.3f}s "
        f"p90={common.pct(totals, 90):.3f}s min={min(totals):.3f}s max={max(totals):.3f}s "
        f"target<={TARGET:g}s ({'met' if not over else f'MISSED in {over} of {len(totals)} rounds'})"
        + ("" if len(rounds) == wanted else ": INCOMPLETE")
    )
    for name, what in (
        ("reap", "kill -> supervisord 'exited:'"),
        ("respawn", "'exited:' -> 'spawned:'"),
        ("init", "'spawned:' -> xrootd 'initialization completed'"),
        ("serve", "'initialization completed' -> first correct read"),
    ):
        got = [getattr(r, name) for r in rounds]
        print(
            f"  {name:8} median={statistics.median(got):.3f}s p90={common.pct(got, 90):.3f}s "
            f"min={min(got):.3f}s max={max(got):.3f}s  ({what})"
        )
    attempts = [r.attempts for r in rounds]
    print(f"  GETs a round: median {statistics.median(attempts):g}, max {max(attempts)}")
    return len(rounds) == wanted


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=20, help="rounds (per pod with --compare; default 20)")
    ap.add_argument("--bound", type=float, default=10, help="fail if no correct read this long after a kill (s)")
    ap.add_argument("--budget", type=float, default=300, help="stop starting rounds after this many seconds")
    ap.add_argument("--size", default="1m", help="the cached file's size (default 1m)")
    ap.add_argument("--compare", action="store_true", help="also a pod whose supervisord polls every --poll-cap s")
    ap.add_argument("--poll-cap", type=float, default=0.1, help="with --compare (default 0.1 s)")
    ap.add_argument("--idle", type=float, default=10, help="with --compare: seconds of idle supervisord CPU measured")
    ap.add_argument("-v", "--verbose", action="store_true", help="print every round")
    args = ap.parse_args()
    common.private_netns()
    root = Path(tempfile.mkdtemp(prefix="cachemgr-bench-restart-"))
    root.chmod(0o755)  # the servers run as the xrootd user: they must reach what is under root
    content = os.urandom(parse_size(args.size))
    up = None
    pods: list[Pod] = []
    try:
        (root / "origin" / "data" / PATH.lstrip("/")).parent.mkdir(parents=True)
        (root / "origin" / "data" / PATH.lstrip("/")).write_bytes(content)
        up = origin.start(root / "origin", sandbox.run_user(), name=ORIGIN_NAME)
        pods.append(Pod("shipped", root / "cache", up.address, content))
        if args.compare:
            site = root / "site"
            site.mkdir()
            (site / "sitecustomize.py").write_text(_POLL_CAP)
            path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
            env = {"PYTHONPATH": path, "CACHEMGR_BENCH_POLL_CAP": str(args.poll_cap)}
            pods.append(Pod(f"poll cap {args.poll_cap:g}s", root / "cache-capped", up.address, content, env))
        for pod in pods:
            pod.start()
        if args.compare and args.idle > 0:  # what the shorter poll costs when nothing happens
            time.sleep(2)
            for pod in pods:
                pod.cpu_from = (pod.supervisord_cpu(), time.monotonic())
            time.sleep(args.idle)
            for pod in pods:
                print(f"{pod.label}: supervisord CPU while idle: {pod.cpu_used()}")
        began = time.monotonic()
        for pod in pods:
            pod.cpu_from = (pod.supervisord_cpu(), time.monotonic())
        for n in range(1, args.kills + 1):
            if time.monotonic() - began > args.budget:
                print(f"budget of {args.budget:g}s spent: stopped after {n - 1} of {args.kills} rounds")
                break
            for pod in pods:  # alternating: drifts in the machine's load hit both alike
                r = pod.kill_round(args.bound)
                pod.rounds.append(r)
                if args.verbose:
                    print(
                        f"{pod.label} round {n}: total {r.total:.3f}s = reap {r.reap:.3f} + respawn {r.respawn:.3f} "
                        f"+ init {r.init:.3f} + serve {r.serve:.3f} ({r.attempts} GETs)",
                        flush=True,
                    )
        complete = True
        for pod in pods:
            complete &= report(pod.label, pod.rounds, args.kills)
            print(f"  supervisord CPU over the rounds: {pod.cpu_used()}")
        if len(pods) == 2 and pods[0].rounds and pods[1].rounds:
            a, b = ([r.total for r in pod.rounds] for pod in pods)
            print(
                f"{pods[1].label} / {pods[0].label}: median {statistics.median(b) / statistics.median(a):.2f}x, "
                f"p90 {common.pct(b, 90) / common.pct(a, 90):.2f}x, max {max(b) / max(a):.2f}x"
            )
        return 0 if complete else 1
    except (BenchFailed, process.StartError) as e:
        print(f"restart: FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        for pod in pods:
            pod.stop()
        if up is not None:
            up.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
