"""Talking to the pod's supervisord over its unix socket (XML-RPC)."""

from __future__ import annotations

import xmlrpc.client
from pathlib import Path

from supervisor.xmlrpc import SupervisorTransport


def connect(run_dir: Path) -> xmlrpc.client.ServerProxy:
    transport = SupervisorTransport(None, None, f"unix://{run_dir}/supervisor.sock")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def programs(run_dir: Path) -> dict[str, dict]:
    """Program name -> supervisord's process info (statename, pid, start, ...)."""
    return {info["name"]: info for info in connect(run_dir).supervisor.getAllProcessInfo()}
