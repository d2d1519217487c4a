"""A throw-away XRootD origin on 127.0.0.1 for the demo, tests and benches: public, or GSI-protected.

The origin serves `<root>/data`; write files there before or after start. A protected origin lets only the
DNs it is given log in (mapping required) and read; the cache reaches it with the proxy refresh-proxy made.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cachemgr.core import files
from cachemgr.credentials import throwaway
from cachemgr.gridmap import mapfile
from cachemgr.local.xrootd import process
from cachemgr.render.engine import environment


def address(port: int, protected: bool) -> str:
    """A GSI client wants the origin's certificate CN ("localhost") in the name it connects to."""
    return f"{'localhost' if protected else '127.0.0.1'}:{port}"


@dataclass(frozen=True)
class Protection:
    ca: throwaway.Issued  # signs the origin's host certificate
    cadir: Path  # CAs the origin trusts (the cache's own CA dir: they share the throw-away CA)
    readers: dict[str, str]  # DN -> account: who may read (the cache's host DN; its proxies map to it)


@dataclass
class OriginServer:
    root: Path
    port: int
    daemon: process.Daemon
    protected: bool

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def address(self) -> str:
        """host:port, as pss.origin wants it."""
        return address(self.port, self.protected)

    def stop(self) -> None:
        self.daemon.stop(timeout=5)


def start(
    root: Path, user: str, port: int | None = None, protect: Protection | None = None, name: str = "origin"
) -> OriginServer:
    """Lay out root (data, run, config, and for a protected origin its credentials) and start xrootd as user."""
    port = port or process.free_port()
    data, run = root / "data", root / "run"
    data.mkdir(parents=True, exist_ok=True)
    run.mkdir(parents=True, exist_ok=True)
    uid, gid = files.owner_ids(user)
    gsi = None
    if protect is not None:
        gsi = {
            "cadir": protect.cadir,
            "cert": root / "hostcert.pem",
            "key": root / "hostkey.pem",
            "gridmap": root / "grid-mapfile",
            "authdb": root / "Authfile",
        }
        throwaway.issue(protect.ca, "localhost", host=True).write(gsi["cert"], gsi["key"], uid, gid)
        gsi["gridmap"].write_text(mapfile.format_entries(protect.readers))
        accounts = sorted(set(protect.readers.values()))
        gsi["authdb"].write_text(environment().get_template("demo-origin.Authfile.j2").render(accounts=accounts))
    config = root / "origin.cfg"
    config.write_text(environment().get_template("demo-origin.cfg.j2").render(data=data, run=run, port=port, gsi=gsi))
    if process.is_root():  # xrootd runs as user: it must reach root and write run/
        root.chmod(0o755)
        for path in (root, run):
            os.chown(path, uid, gid)
    daemon = process.start("xrootd", name, config, root / "origin.log", run, user=user)
    return OriginServer(root, port, daemon, protect is not None)
