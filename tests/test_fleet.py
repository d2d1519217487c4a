"""`cachemgr demo --fleet 3`: a real redirector (xrootd + cmsd manager) and three caches, read through for real.

Selection, failover, drain and return, as the README's fleet section states them. The tests share one fleet and
run in file order: those that take a node away bring it back.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from support import REPO, processes_naming, running
from support.fleet import CLIENT_ENV, Fleet, start
from support.wait import eventually

from cachemgr.xcache import cinfo

pytestmark = pytest.mark.usefixtures("xrootd_installed")


def test_sigterm_while_the_fleet_starts_stops_what_it_started_within_10s():
    """Before the fleet is up (first in the file: no other fleet runs), between two of its start-up steps."""
    tmp = Path(tempfile.gettempdir())
    before = set(tmp.glob("cachemgr-fleet-*"))
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cachemgr", "demo", "--fleet", "3"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
        )
        try:
            output = lambda: log.seek(0) or log.read().decode(errors="replace")  # noqa: E731
            eventually(lambda: "[cache-1] " in output(), 60, 0.05, output)  # the origin and redirector are up
            started = psutil.Process(proc.pid).children(recursive=True)
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            took = time.monotonic() - t0
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        assert proc.returncode == 128 + signal.SIGTERM and took < 10, (took, output()[-3000:])
        assert "cachemgr demo --fleet: SIGTERM while starting: stopping" in output()
        assert proc.stdout is not None and proc.stdout.read() == b""  # no keys: the fleet never was up
        assert [p.pid for p in started if running(p)] == [] and set(tmp.glob("cachemgr-fleet-*")) == before


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    running = start(3)
    yield running
    if running.proc.poll() is None:
        running.stop()


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_new(fleet: Fleet, rel: str, size: int = 100_000) -> tuple[bytes, bytes]:
    """Put a new file of size random bytes at rel on the origin and read it once through the redirector."""
    data = os.urandom(size)
    fleet.add(rel, data)
    result = fleet.read(rel)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return data, result.stdout


def node_processes(fleet: Fleet, index: int) -> list[str]:
    return processes_naming(f"{fleet.root}/cache-{index + 1}/")


def test_reads_land_on_exactly_one_cache_equal_to_the_origin_and_spread_over_the_fleet(fleet: Fleet):
    holders = set()
    for i in range(6):
        rel = f"/spread/f{i}.bin"
        data, got = read_new(fleet, rel, 100_000 + i)
        assert digest(got) == digest(data)
        (holder,) = fleet.holders(rel)  # exactly one cache has it
        assert digest((fleet.dirs[holder] / rel.lstrip("/")).read_bytes()) == digest(data)
        holders.add(holder)
    assert len(holders) > 1, "every miss went to the same cache"


def test_http_through_the_redirector_is_redirected_to_a_cache(fleet: Fleet):
    rel = "/http/page.txt"
    fleet.add(rel, b"over http\n")
    got = subprocess.run(
        ["curl", "-sS", "-L", "--max-time", "30", f"{fleet.env['REDIRECTOR_HTTP']}{rel}"],
        capture_output=True,
        timeout=40,
    )
    assert got.returncode == 0 and got.stdout == b"over http\n", got.stderr
    assert len(fleet.holders(rel)) == 1


def test_a_second_read_is_a_hit_on_the_cache_that_has_it(fleet: Fleet):
    rel = "/hits/again.bin"
    data, _ = read_new(fleet, rel)
    (holder,) = fleet.holders(rel)
    info = Path(f"{fleet.dirs[holder] / rel.lstrip('/')}.cinfo")
    eventually(lambda: cinfo.read(info).access_count == 1, 10, message="the first read's access is recorded")
    for _ in range(2):
        again = fleet.read(rel)
        assert again.returncode == 0 and digest(again.stdout) == digest(data)
    assert fleet.holders(rel) == [holder], "the other caches fetched it too"
    eventually(lambda: cinfo.read(info).access_count == 3, 10, message="each read is an access on that cache")


def test_the_redirector_and_each_cmsd_log_in_the_demo_output_with_their_names(fleet: Fleet):
    out = fleet.output()
    assert re.search(r"^\[xrootd-redirector\] .*initialization completed", out, re.M)
    for url in fleet.caches:
        port = url.rsplit(":", 1)[1]
        # The redirector's cmsd saw each cache's cmsd log in, and each node relays its own cmsd's log.
        assert re.search(rf"^\[cmsd-redirector\] .*server\S*@\S+:{port} logged in\.", out, re.M), port
    for i in range(len(fleet.caches)):
        assert re.search(rf"^\[cache-{i + 1}\] \[cmsd-noauth\] .*initialization completed", out, re.M)


# Not as root the demo runs no PID namespace per node, and a killed supervise leaves its programs running.
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="a node is a PID namespace only as root")


@needs_root
def test_kill_9_of_a_node_takes_it_all_and_reads_fail_over_to_the_others(fleet: Fleet):
    rel = "/failover/held.bin"
    data, _ = read_new(fleet, rel)
    (dead,) = fleet.holders(rel)
    assert node_processes(fleet, dead)
    os.kill(fleet.pids[dead], signal.SIGKILL)
    eventually(lambda: not node_processes(fleet, dead), 10, message=lambda: node_processes(fleet, dead))
    # One client, started right after: the redirector makes it wait until the dead cache is dropped
    # (cms.drop_delay), then sends it to another cache (the README's fleet section gives the bound).
    start_time = time.monotonic()
    again = fleet.read(rel)
    print(f"read of the dead cache's file took {time.monotonic() - start_time:.2f}s")
    assert again.returncode == 0, again.stderr.decode(errors="replace")
    assert digest(again.stdout) == digest(data)
    assert set(fleet.holders(rel)) - {dead}, "no live cache fetched it"
    read_new(fleet, "/failover/new.bin")  # a new file is sent to a live cache: the dead one would refuse it
    assert fleet.holders("/failover/new.bin")


@needs_root
def test_a_node_that_comes_back_is_selected_again(fleet: Fleet):
    gone = [i for i, pid in enumerate(fleet.pids) if not psutil.pid_exists(pid)]
    assert gone, "the previous test left no node gone"
    fleet.restart_gone()
    holders = set()
    for i in range(6):
        read_new(fleet, f"/back/f{i}.bin", 1000 + i)
        holders.update(fleet.holders(f"/back/f{i}.bin"))
    assert set(gone) <= holders


def logged_out(fleet: Fleet, port: int) -> bool:
    """Whether the redirector's cmsd saw the cache on port log out since it last logged in."""
    out = fleet.output()
    logins = list(re.finditer(rf"^\[cmsd-redirector\] .* (server\S*)@\S+:{port} logged in\.", out, re.M))
    assert logins, f"the cache on {port} never logged in"
    last = logins[-1]
    return (
        re.search(rf"^\[cmsd-redirector\] .* {re.escape(last[1])}@\S+ logged out", out[last.end() :], re.M) is not None
    )


def test_sigterm_of_a_node_drains_it_out_of_the_selection_before_its_xrootd_stops(fleet: Fleet, tmp_path: Path):
    rel = "/drain/big.bin"
    big, _ = read_new(fleet, rel, 4 << 20)
    (draining,) = fleet.holders(rel)
    port = int(fleet.caches[draining].rsplit(":", 1)[1])
    # A slow reader (512 KiB/s, ~8 s) through the redirector: a hit on the cache about to drain.
    out = tmp_path / "big.bin"
    slow = subprocess.Popen(
        ["xrdcp", "--force", "--silent", "--xrate", "512k", f"{fleet.env['REDIRECTOR_XROOT']}/{rel}", str(out)],
        env={**os.environ, **CLIENT_ENV},
        stderr=subprocess.PIPE,
    )

    def connected() -> bool:
        return any(c.status == "ESTABLISHED" and c.laddr.port == port for c in psutil.net_connections("tcp"))

    eventually(connected, 10, interval=0.05, message="the slow reader reached the cache")
    late = [f"/drain/late{i}.bin" for i in range(4)]
    for name in late:
        fleet.add(name, name.encode())
    os.kill(fleet.pids[draining], signal.SIGTERM)
    # supervise stops the node's cmsd first: the redirector sees it go while xrootd still serves the slow reader.
    eventually(lambda: logged_out(fleet, port), 10, message="the redirector saw the draining cache's cmsd go")
    assert slow.poll() is None, "the slow transfer ended already: nothing shows the order"
    results: dict[str, subprocess.CompletedProcess[bytes]] = {}
    readers = [threading.Thread(target=lambda n=name: results.update({n: fleet.read(n)})) for name in late]
    for t in readers:
        t.start()
    for t in readers:
        t.join()
    for name in late:
        assert results[name].returncode == 0 and results[name].stdout == name.encode()
        assert fleet.holders(name) and draining not in fleet.holders(name), name
    assert slow.wait(30) == 0, slow.stderr.read() if slow.stderr else ""
    assert digest(out.read_bytes()) == digest(big)
    eventually(lambda: not node_processes(fleet, draining), 20, message="the drained node stopped")
    fleet.restart_gone()


@needs_root
def test_a_frozen_node_is_logged_out_by_the_keep_alive_and_gets_no_new_reads(fleet: Fleet):
    """A cache that hangs without closing its connection (a frozen machine, a cut network): no disconnect tells the
    redirector, its cms.ping keep-alive does (the demo's 3 s), and then new reads go to the other caches."""
    port = int(fleet.caches[0].rsplit(":", 1)[1])
    node = psutil.Process(fleet.pids[0])
    frozen = [node, *node.children(recursive=True)]
    for proc in frozen:
        proc.send_signal(signal.SIGSTOP)
    try:
        eventually(lambda: logged_out(fleet, port), 60, message="the redirector never logged the frozen cache out")
        for i in range(4):
            rel = f"/frozen/f{i}.bin"
            read_new(fleet, rel, 2000 + i)
            assert fleet.holders(rel) and 0 not in fleet.holders(rel), rel
    finally:
        os.kill(fleet.pids[0], signal.SIGKILL)  # PID 1 of its namespace: the whole node, stopped or not
        eventually(lambda: not node_processes(fleet, 0), 10, message="the frozen node was not killed")
    fleet.restart_gone()


def test_sigterm_stops_the_whole_fleet_within_10s_leaving_nothing(fleet: Fleet):
    took = fleet.stop()
    assert fleet.proc.returncode == 0, fleet.log_tail()
    assert took < 10, f"stopping took {took:.1f}s"
    assert not fleet.leftovers()
    assert not fleet.root.exists()


def test_demo_fleet_killed_with_sigkill_leaves_no_process_port_or_dir_within_10s():
    start(2).killed_leaves_nothing()
