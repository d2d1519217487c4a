"""A throw-away cache redirector on 127.0.0.1 for `cachemgr demo --fleet`: xrootd and cmsd in the manager role.

Caches report to its cmsd (all.manager 127.0.0.1:cms_port); clients ask its xrootd, which redirects each to a
cache. Its selection and timeouts are the `cms.*` parameters of the values it is rendered from.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cachemgr.core import files, procs
from cachemgr.local.xrootd import process
from cachemgr.render.engine import environment
from cachemgr.values.resolve import NodeValues

NAME = "redirector"


@dataclass
class Redirector:
    root: Path
    port: int  # xroot, for clients
    cms_port: int  # where caches' cmsd log in
    http_port: int  # xrootd's HTTP, for clients
    daemons: list[process.Daemon]

    @property
    def manager(self) -> str:
        """host:port for the caches' `redirector` value (all.manager)."""
        return f"127.0.0.1:{self.cms_port}"

    def log(self, program: str) -> Path:
        return self.root / "log" / f"{program}-{NAME}.log"  # relayed as [program-redirector]

    def wait_login(self, port: int, alive: subprocess.Popen, timeout: float, since: int = 0) -> None:
        """Block until the cmsd of the cache serving port has logged in (after byte `since` of the log)."""
        login = re.compile(rf"^\d{{6}} [\d:]+ \d+ Protocol: .*@\S+:{port} logged in\.$", re.M)
        log = self.log("cmsd")
        what = f"the cache on port {port} did not log in to the redirector"

        def logged_in() -> bool:
            if login.search(process.log_after(log, since)):
                return True
            if alive.poll() is not None:
                raise process.StartError(f"{what}: it exited with status {alive.returncode}", log)
            return False

        procs.wait_until(logged_in, timeout, 0.05, what, error=lambda message: process.StartError(message, log))

    @property
    def run(self) -> Path:
        return self.root / "run"

    def stop(self, timeout: float = 5) -> None:
        """Stop xrootd, then cmsd (SIGTERM; SIGKILL to one still running after timeout)."""
        for daemon in reversed(self.daemons):
            daemon.stop(timeout=timeout)


def render(v: NodeValues, box: Redirector) -> str:
    """The redirector's config: its ports and paths from box, its selection and timeouts from v's `cms.*`."""
    return (
        environment()
        .get_template("demo-redirector.cfg.j2")
        .render(
            v=v.tree(),
            run=box.run,
            port=box.port,
            cms_port=box.cms_port,
            http_port=box.http_port,
            manager=box.manager,
        )
    )


def start(root: Path, user: str, v: NodeValues) -> Redirector:
    """Lay out root (run dir, log dir, config) and start cmsd, then xrootd, as user; logs in root/log/."""
    box = Redirector(root, process.free_port(), process.free_port(), process.free_port(), [])
    run = box.run
    for d in (run, root / "log"):
        d.mkdir(parents=True, exist_ok=True)
    config = root / "redirector.cfg"
    config.write_text(render(v, box))
    if process.is_root():  # the daemons run as user: they write run/ and their logs
        uid, gid = files.owner_ids(user)
        root.chmod(0o755)
        for path in (root, run, root / "log"):
            os.chown(path, uid, gid)
    try:
        for program in ("cmsd", "xrootd"):
            box.daemons.append(process.start(program, NAME, config, box.log(program), run, user=user))
    except process.StartError:
        box.stop()
        raise
    return box
