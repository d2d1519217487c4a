"""A node's rendered cache, relocated to run on this machine: free loopback ports, paths in a temp dir.

`cachemgr check` and `cachemgr demo` both use it. The node is validated again with overrides, so what
runs is exactly what the templates make of the node, with only ports and paths changed.
"""

from __future__ import annotations

import getpass
import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cachemgr.core.params import PARAMS
from cachemgr.core.pod import Instance
from cachemgr.credentials import throwaway
from cachemgr.local.xrootd import process
from cachemgr.render.engine import RenderedNode, daemons, disks, instances, render_node
from cachemgr.render.site import load_nodes
from cachemgr.scheduler import crontab
from cachemgr.scheduler.runner import execute, task_command
from cachemgr.values.resolve import NodeValues

# Seconds for `cachemgr supervise` to drain and stop its programs before SIGKILL: a demo's whole stop (then its
# origins, the fleet's redirector) stays under 10 s.
STOP_WITHIN = 7.0


@dataclass
class Sandbox:
    root: Path
    values: NodeValues
    rendered: RenderedNode
    daemons: list[process.Daemon] = field(default_factory=list)
    ca: throwaway.Issued | None = None  # the throw-away CA of the auth instance: tests and the demo sign users with it

    @property
    def config_dir(self) -> Path:
        return Path(self.values["paths.config"])

    @property
    def instances(self) -> list[Instance]:
        return instances(self.values)

    def log(self, daemon: str, instance: str) -> Path:
        return Path(self.values["paths.log"]) / f"{daemon}-{instance}.log"

    def start_daemons(self, isolate: bool, timeout: float = 20) -> None:
        """Start every rendered daemon directly (no supervisord), as `cachemgr check` does."""
        self.run_tasks()  # what supervise would run first: the xrd cert, proxy and grid-mapfile
        for inst in self.instances:
            for program in daemons(self.values):
                self.daemons.append(
                    process.start(
                        program,
                        inst.name,
                        self.config_dir / f"xrootd-{inst.name}.cfg",
                        self.log(program, inst.name),
                        Path(self.values["paths.run"]),
                        user=self.values["xrootd.user"],
                        isolate=isolate,
                        timeout=timeout,
                    )
                )

    def supervise(self, output: IO | int = subprocess.DEVNULL, launcher: Sequence[str] = ()) -> subprocess.Popen:
        """Run the box as the image does: `cachemgr supervise` on its rendered config (launcher: a command that
        runs it, such as `unshare --pid ...`)."""
        return subprocess.Popen(
            [*launcher, sys.executable, "-m", "cachemgr", "supervise", "--configmap", str(self.config_dir)],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log_offsets(self) -> dict[str, int]:
        """Each instance's xrootd log size now (0 while it has none): pass to wait_serving after a restart."""
        logs = {inst.name: self.log("xrootd", inst.name) for inst in self.instances}
        return {name: log.stat().st_size if log.exists() else 0 for name, log in logs.items()}

    def wait_serving(self, alive: subprocess.Popen, since: dict[str, int] | None = None, timeout: float = 30) -> None:
        """Block until every instance's xrootd has initialized (in its log after since[name], from log_offsets:
        this start's, not an earlier one's); raise StartError when one fails or alive (what runs them) exits."""
        for inst in self.instances:
            log = self.log("xrootd", inst.name)
            process.wait_ready(log, inst.name, alive, timeout=timeout, since=(since or {}).get(inst.name, 0))

    def run_tasks(self, *names: str) -> None:
        """Run the rendered crontab's at-start tasks (or only these), in start-up order, as `cachemgr supervise`
        would."""
        for entry in crontab.at_start(crontab.load(self.config_dir / "cachemgr.crontab")):
            if not names or entry.task in names:
                ok, detail = execute(task_command(entry), entry.timeout)
                if not ok:
                    raise process.StartError(f"task {entry.task} failed: {detail}")

    def stop(self) -> None:
        for daemon in reversed(self.daemons):
            daemon.stop()
        self.daemons.clear()


def run_user(name: str = "xrootd") -> str:
    """xrootd never runs as root: as root use the xrootd user, else whoever we are."""
    return name if process.is_root() else getpass.getuser()


def loopback(v: NodeValues, origin: str | None = None) -> dict[str, Any]:
    """Free loopback ports, this origin, no collectors or LDAP: what any local run of a node changes."""
    o: dict[str, Any] = {p.name: process.free_port() for p in PARAMS if p.kind == "port"}
    o.update({p.name: [] for p in PARAMS if p.kind == "host:port list"})  # no collectors or fleet here
    o.update(
        {
            "origin.host": origin or f"127.0.0.1:{process.free_port()}",
            "origin.auth": (origin or f"127.0.0.1:{process.free_port()}") if v["origin.auth"] else None,
            "redirector": f"127.0.0.1:{process.free_port()}" if v["redirector"] else None,
            "gridmap.source": None,  # no LDAP or CVMFS here: the grid-mapfile is the node's own DNs
        }
    )
    return o


def relocated(v: NodeValues, root: Path, prefixes: tuple[str, ...] = ("",)) -> dict[str, Any]:
    """The node's own paths (those of parameters whose names start with a prefix), each mirrored under root."""
    o: dict[str, Any] = {}
    for p in PARAMS:
        if p.kind in ("path", "path list") and p.name.startswith(prefixes):
            under = [str(root / d.lstrip("/")) for d in ([v[p.name]] if p.kind == "path" else v[p.name])]
            o[p.name] = under if p.kind == "path list" else under[0]
    return o


def overrides(v: NodeValues, root: Path, origin: str | None = None) -> dict[str, Any]:
    o = {**loopback(v, origin), **relocated(v, root), "xrootd.user": run_user(v["xrootd.user"])}
    if v["cache.files_max"] is not None:
        # XRootD rejects `files` sizes above the real disk's size; keep the directive, shrink the numbers.
        o.update({"cache.files_baseline": "1g", "cache.files_nominal": "2g", "cache.files_max": "3g"})
    return o


def lay_out_disks(v: NodeValues) -> None:
    """Every namespace root and disk of the node, with its sentinel: these "disks" are mounted, as an admin says."""
    for disk in disks(v):
        Path(disk).mkdir(parents=True, exist_ok=True)
        if v["cache.sentinel"]:
            (Path(disk) / v["cache.sentinel"]).touch()


def create(
    values_dir: Path,
    node: str,
    root: Path,
    origin: str | None = None,
    extra: dict[str, Any] | None = None,
    cron_dir: Path | None = None,
) -> Sandbox:
    """Validate and render `node` relocated under root, and lay out its directories and credentials.

    extra: further parameter overrides (the demo turns the auth instance off, shortens the drain).
    cron_dir: the site's schedules (default: cron/ beside values_dir).
    """
    (base,) = load_nodes(values_dir, [node], cron_dir=cron_dir)
    (v,) = load_nodes(values_dir, [node], {**overrides(base, root, origin), **(extra or {})}, cron_dir=cron_dir)
    rendered = render_node(v)
    box = Sandbox(root, v, rendered)
    for key in ("paths.config", "paths.run", "paths.log"):
        Path(v[key]).mkdir(parents=True, exist_ok=True)
    lay_out_disks(v)
    for key, text in rendered.configmap.items():
        (box.config_dir / key).write_text(text)
    user = pwd.getpwnam(v["xrootd.user"])
    if v["auth.enabled"]:  # what the pod gets mounted: the CA dir and the host cert Secret
        ca = throwaway.make_ca()
        throwaway.install_ca(ca, Path(v["auth.cadir"]))
        throwaway.issue(ca, "localhost", host=True).write(Path(v["auth.hostcert"]), Path(v["auth.hostkey"]))
        box.ca = ca
    if process.is_root():
        root.chmod(0o755)
        for path in [root, *root.rglob("*")]:
            if path != Path(v["auth.hostkey"]):
                os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)
    return box


def remove(box: Sandbox) -> None:
    box.stop()
    shutil.rmtree(box.root, ignore_errors=True)
