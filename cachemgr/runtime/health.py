"""`cachemgr health --live|--ready`: the pod's probes.

Live: supervisord answers, every xrootd and cmsd program it runs is RUNNING, every xroot port answers.
Ready: live, not draining, the latest self-test passed and is recent, every disk below its limits.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from cachemgr.core import supervisor_rpc, xroot
from cachemgr.core.pod import Runtime


def disk_problems(rt: Runtime) -> list[str]:
    problems = []
    for disk in rt.disks:
        try:
            st = os.statvfs(disk)
        except OSError as e:
            problems.append(f"{disk}: {e.strerror}")
            continue
        used = 1 - st.f_bavail / st.f_blocks if st.f_blocks else 0
        inodes = 1 - st.f_favail / st.f_files if st.f_files else 0
        if used > rt.disk_high:
            problems.append(f"{disk}: {used:.0%} of bytes used (limit {rt.disk_high:.0%})")
        if inodes > rt.inode_high:
            problems.append(f"{disk}: {inodes:.0%} of inodes used (limit {rt.inode_high:.0%})")
    return problems


def _flag(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def live(rt: Runtime) -> list[str]:
    if failed := _flag(rt.run.failed):
        return [failed]
    try:
        programs = supervisor_rpc.programs(rt.run)
    except OSError as e:
        return [f"supervisord does not answer: {e.strerror or e}"]
    problems = [
        f"{name} is {info['statename']}"
        for name, info in sorted(programs.items())
        if name.startswith(("xrootd-", "cmsd-")) and info["statename"] != "RUNNING"
    ]
    for inst in rt.instances:
        if f"xrootd-{inst.name}" in programs and (why := xroot.answers(inst.port)):
            problems.append(why)
    return problems


def ready(rt: Runtime) -> list[str]:
    problems = live(rt)
    if rt.run.draining.exists():
        problems.append("draining for shutdown")
    if auth_off := _flag(rt.run.auth_off):
        problems.append(f"the authenticated instance is not running: {auth_off}")
    try:
        result = json.loads(rt.run.selftest.read_text())
    except (OSError, ValueError):
        return [*problems, "no self-test result yet"]
    stale = time.time() - result["time"] > 3 * rt.selftest.interval + rt.selftest.timeout
    problems += ["the last self-test result is stale"] if stale else []
    problems += [
        f"self-test {name}: {check['detail']}" for name, check in result["checks"].items() if check["ok"] is False
    ]
    return problems + disk_problems(rt)
