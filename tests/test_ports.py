"""Free loopback ports: distinct within a process, and free for UDP as well as TCP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from support import EXAMPLE

from cachemgr.core.params import PARAMS
from cachemgr.local import sandbox
from cachemgr.local.xrootd import process
from cachemgr.render.site import load_nodes


def _ports(overrides: dict) -> list[int]:
    """Every port one sandbox allocation picked: the port parameters, and those of the host:port addresses."""
    ports = [overrides[p.name] for p in PARAMS if p.kind == "port"]
    addresses = [overrides[name] for name in ("origin.host", "origin.auth", "redirector") if overrides[name]]
    return ports + [int(a.rsplit(":", 1)[1]) for a in addresses]


def test_thirty_allocations_of_a_nodes_ports_are_all_distinct():
    (node,) = load_nodes(EXAMPLE, ["local"])
    picked = [port for _ in range(30) for port in _ports(sandbox.loopback(node))]
    assert len(picked) >= 30 * 7
    assert len(set(picked)) == len(picked)


def test_a_free_port_binds_for_tcp_and_udp():
    port = process.free_port()
    with (
        socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
    ):
        tcp.bind(("127.0.0.1", port))
        tcp.listen()
        udp.bind(("127.0.0.1", port))


# In a network namespace of its own with 10 ephemeral ports, 3 of them taken for UDP: the 7 others come out, each
# once, then there is none left.
NARROW_RANGE = """
import socket
from cachemgr.local.xrootd.process import free_port

open("/proc/sys/net/ipv4/ip_local_port_range", "w").write("40000 40009")
taken = []
for port in (40001, 40002, 40007):
    taken.append(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    taken[-1].bind(("127.0.0.1", port))
print(sorted(free_port() for _ in range(7)))
try:
    print(free_port())
except OSError:
    print("none left")
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="a network namespace with its own port range needs root")
def test_ports_busy_for_udp_or_handed_out_before_are_never_returned():
    cmd = process.isolated([sys.executable, "-c", NARROW_RANGE])
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["[40000, 40003, 40004, 40005, 40006, 40008, 40009]", "none left"]
