"""Checks that span several parameters; each problem is reported where the admin set a value."""

from __future__ import annotations

import posixpath
from typing import Any

from cachemgr.core import quantity
from cachemgr.core.params import PARAMS
from cachemgr.values.load import Problem

Blame = dict[str, tuple[str, int]]
PORTS = tuple(p.name for p in PARAMS if p.kind == "port")
MIN_RAM = 1 << 30  # XRootD 5.5.3 rejects pfc.ram below 1g
# Memory the pod needs beside pfc.ram, measured on the demo (cachemgr demo --auth, idle, RSS): its Python
# programs (supervise, supervisord, cron, exporter and its scan workers, self-test, process-events) hold
# ~260 MiB together, an xrootd cache instance ~20 MiB. Under load an instance adds network buffers
# (XrdBuffManager: up to 2 MiB per transfer in flight) and thread stacks: 512 MiB leaves room for a few hundred.
SERVICES_MEMORY = 512 << 20
XROOTD_OVERHEAD = 512 << 20


def _is_under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def cross_checks(v: dict[str, Any], blame: Blame) -> list[Problem]:
    problems: list[Problem] = []

    def bad(name: str, reason: str, *others: str) -> None:
        # Blame the most specific file among the involved keys: a node file beats site.yaml beats defaults.
        names = (name, *others)
        chosen = max(names, key=lambda n: ("nodes" in blame[n][0], blame[n][0] != "(default)"))
        file, line = blame[chosen]
        problems.append(Problem(file, line, chosen, reason))

    if v["cache.disk_low"] >= v["cache.disk_high"]:
        bad(
            "cache.disk_low",
            f"low watermark {v['cache.disk_low']} must be below the high watermark "
            f"{v['cache.disk_high']} (purge runs from high down to low)",
            "cache.disk_high",
        )
    files = [v[f"cache.files_{k}"] for k in ("baseline", "nominal", "max")]
    if any(x is not None for x in files):
        if None in files:
            bad(
                "cache.files_baseline",
                "set files_baseline, files_nominal and files_max together",
                "cache.files_nominal",
                "cache.files_max",
            )
        elif not files[0] < files[1] < files[2]:
            bad(
                "cache.files_baseline",
                "needs files_baseline < files_nominal < files_max",
                "cache.files_nominal",
                "cache.files_max",
            )
    if v["cache.purge_interval"] < 60:
        bad("cache.purge_interval", f"{v['cache.purge_interval']}s is below 60s, which XRootD rejects")
    if v["cache.ram"] < MIN_RAM:
        bad("cache.ram", "must be at least 1g (XRootD rejects less)")
    bs = v["cache.blocksize"]
    if bs % 4096 or not 64 << 10 <= bs <= 512 << 20:
        bad("cache.blocksize", "must be a multiple of 4k between 64k and 512m")
    if v["monitoring.interval"] < 1:
        bad("monitoring.interval", "must be at least 1s")

    seen: dict[int, str] = {}
    for name in PORTS:
        if v[name] in seen:
            bad(name, f"port {v[name]} is already used by {seen[v[name]]}", seen[v[name]])
        seen.setdefault(v[name], name)

    data, meta = v["cache.data_disks"], v["cache.meta_disks"]
    if v["auth.enabled"] and (
        _is_under(v["cache.root"], v["cache.auth_root"]) or _is_under(v["cache.auth_root"], v["cache.root"])
    ):
        bad("cache.auth_root", "must not overlap cache.root: each instance needs its own namespace", "cache.root")
    disks = [*data, *meta]
    for name in ("cache.data_disks", "cache.meta_disks"):
        for i, disk in enumerate(v[name]):
            if disk in disks[: (i if name == "cache.data_disks" else len(data) + i)]:
                bad(name, f"{disk} is listed twice")
            for root_name in ("cache.root", "cache.auth_root"):
                root = v[root_name]
                if _is_under(disk, root) or _is_under(root, disk):
                    bad(name, f"{disk} overlaps {root_name} {root}: give each its own mount point", root_name)
    if meta and not data:
        bad("cache.meta_disks", "meta disks need data disks (pfc.spaces data meta)", "cache.data_disks")

    public = set(v["namespaces.public"])
    seen_ns: set[str] = set()
    for ns in v["namespaces.protected"]:
        if ns.path in public:
            bad("namespaces.protected", f"{ns.path} is both public and protected", "namespaces.public")
        if ns.path in seen_ns:
            bad("namespaces.protected", f"{ns.path} is listed twice")
        if ns.path == "/":
            bad("namespaces.protected", "protecting / leaves nothing public; list the protected prefixes")
        seen_ns.add(ns.path)
    if not public:
        bad("namespaces.public", "needs at least one prefix (use / for everything not protected)")

    if (
        v["auth.enabled"]
        and v["auth.hostcert_from"] == "secret"
        and (posixpath.dirname(v["auth.hostcert"]) != posixpath.dirname(v["auth.hostkey"]))
    ):
        bad("auth.hostkey", "must sit in the host cert's directory: the Secret is mounted there", "auth.hostcert")
    # Each xrootd instance (the public one, and the authenticated one when on) has its own pfc.ram.
    # Requests above limits are the API server's rule (cachemgr/k8s/rules.py).
    instances = 2 if v["auth.enabled"] else 1
    needed = SERVICES_MEMORY + instances * (v["cache.ram"] + XROOTD_OVERHEAD)
    if quantity.parse(v["k8s.memory_limit"]) < needed:
        bad(
            "k8s.memory_limit",
            f"{v['k8s.memory_limit']} is below the {needed >> 20}Mi the pod needs: {instances} xrootd instance(s) "
            "with cache.ram and 512Mi each, and 512Mi for cachemgr's programs",
            "cache.ram",
        )
    return problems
