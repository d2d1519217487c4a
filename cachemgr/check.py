"""`cachemgr check`: validate, render, and start every rendered daemon under the real xrootd/cmsd."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from cachemgr import sandbox
from cachemgr.render.engine import render_node
from cachemgr.values.load import Problem, ValuesError
from cachemgr.values.resolve import load_nodes
from cachemgr.xrootd.process import StartError


def check(values_dir: Path, names: list[str] | None = None, start: bool = True) -> list[Problem]:
    """Problems found; empty when every node validates, renders and (if xrootd is here) starts."""
    try:
        nodes = load_nodes(values_dir, names)
    except ValuesError as e:
        return e.problems
    for node in nodes:
        render_node(node)
    if not start or not shutil.which("xrootd"):
        return []
    problems: list[Problem] = []
    for node in nodes:
        box = sandbox.create(values_dir, node.name, Path(tempfile.mkdtemp(prefix=f"cachemgr-check-{node.name}-")))
        try:
            box.start_daemons(isolate=True)
        except StartError as e:
            key = e.log.stem if e.log else "xrootd"
            problems.append(Problem(node.file, 1, key, f"{e}: {e.cause()}"))
        finally:
            sandbox.remove(box)
    return problems
