"""Scheduled tasks: each is safe to repeat, atomic, verified, and fails with a one-line reason.

Every task module has `add_arguments(parser)` (defaults from the parameter table, so a task runs
stand-alone; the rendered crontab passes the node's values) and `run(args) -> str` (what it did), and
raises TaskError when it must not change anything. On failure, installed files stay byte-identical.
"""

from __future__ import annotations

from types import ModuleType

from cachemgr.tasks import fetch_crl, fix_certs, gridmap, refresh_proxy

TASKS: dict[str, ModuleType] = {
    "fix-certs": fix_certs,
    "refresh-proxy": refresh_proxy,
    "fetch-crl": fetch_crl,
    "gridmap": gridmap,
}
