"""Talking to the pod's supervisord over its unix socket (XML-RPC)."""

from __future__ import annotations

import xmlrpc.client

from supervisor.xmlrpc import SupervisorTransport

from cachemgr.core.pod import RunDir


def url(run: RunDir) -> str:
    """Where the pod's supervisord listens (supervisord.conf puts its socket in paths.run)."""
    return f"unix://{run.supervisor_socket}"


def connect(run: RunDir) -> xmlrpc.client.ServerProxy:
    return connect_url(url(run))


def connect_url(server_url: str) -> xmlrpc.client.ServerProxy:
    transport = SupervisorTransport(None, None, server_url)
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def programs_at(server_url: str) -> dict[str, dict]:
    """Program name -> supervisord's process info (statename, pid, start, ...)."""
    return {info["name"]: info for info in connect_url(server_url).supervisor.getAllProcessInfo()}


def programs(run: RunDir) -> dict[str, dict]:
    return programs_at(url(run))
