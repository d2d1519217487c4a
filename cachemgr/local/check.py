"""`cachemgr check`: validate, render, refuse what the API server would, and start every rendered daemon
under the real xrootd/cmsd."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from cachemgr.k8s.refusals import render_accepted
from cachemgr.local import sandbox
from cachemgr.local.xrootd.process import StartError
from cachemgr.render.site import load_nodes
from cachemgr.values.load import Problem, ValuesError
from cachemgr.values.resolve import NodeValues


def check_nodes(
    values_dir: Path, names: list[str] | None = None, start: bool = True, cron_dir: Path | None = None
) -> list[Problem]:
    """Problems found; empty when every node validates (with cron/), renders and (if xrootd is here) starts."""
    try:
        nodes = load_nodes(values_dir, names, cron_dir=cron_dir)
        render_accepted(nodes)
    except ValuesError as e:
        return e.problems
    if not start or not shutil.which("xrootd"):
        return []
    problems: list[Problem] = []
    for node in nodes:
        root = Path(tempfile.mkdtemp(prefix=f"cachemgr-check-{node.name}-"))
        box = sandbox.create(values_dir, node.name, root, cron_dir=cron_dir)
        try:
            box.start_daemons(isolate=True)
        except StartError as e:
            problems.append(_blame(node, e))
        finally:
            sandbox.remove(box)
    return problems


def _blame(node: NodeValues, error: StartError) -> Problem:
    """Point at the xrootd.extra directive XRootD complained about, else at the node file."""
    cause = error.cause()
    for i, line in enumerate(node["xrootd.extra"]):
        directive = line.split()[0] if line.split() else ""
        if directive and directive.rsplit(".", 1)[-1] in cause:
            file, at = node.sources["xrootd.extra"]
            return Problem(file, at, f"xrootd.extra[{i}]", f"{error}: {cause}")
    return Problem(node.file, 1, error.log.stem if error.log else "xrootd", f"{error}: {cause}")
