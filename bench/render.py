"""Render + validate N generated nodes (no xrootd started). Target: 1000 nodes in <= 10 s.

python bench/render.py [--nodes 1000]

The phases are timed inside this process: validate (values and cron/), render (the templates), check (the API
server's rules on every rendered object: what `cachemgr render` also runs) and write. `command` is `cachemgr render`
of the same nodes into an empty dir, timed from outside as an admin runs it (start-up and imports included).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cachemgr.k8s.refusals import refusals
from cachemgr.render.engine import render_node
from cachemgr.render.site import load_nodes
from cachemgr.render.write import write_outputs

REPO = Path(__file__).resolve().parents[1]


def generate(values: Path, count: int) -> None:
    """Nodes of every shape the example site has: 1-12 disks, auth on/off, cmsd on/off."""
    (values / "nodes").mkdir(parents=True)
    (values / "site.yaml").write_text((REPO / "k8s" / "site.yaml").read_text())
    shutil.copytree(REPO / "cron", values.parent / "cron")
    for i in range(count):
        disks = [f"/xcache/data{d}" for d in range(1, i % 12 + 1)] if i % 3 else []
        meta = ["/xcache/meta1"] if disks and i % 2 else []
        ram = 8 + i % 56
        lines = [
            f"node:\n  hostname: cache-{i:04d}.example.org",
            "cache:",
            f"  ram: {ram}g",
            f"  data_disks: [{', '.join(disks)}]",
            f"  meta_disks: [{', '.join(meta)}]",
            "k8s:",
            # Room for two instances' pfc.ram and overheads (values/rules.py's memory rule), as a site sizes it.
            f"  memory_limit: {2 * ram + 2}Gi",
            f"  memory_request: {ram + 2}Gi",
        ]
        if i % 4 == 0:
            lines.append("redirector: redirector.example.org:1213")
        if i % 5 != 0:
            lines.append("auth:\n  enabled: true")
        (values / "nodes" / f"cache-{i:04d}.yaml").write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nodes", type=int, default=1000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        values, out = Path(tmp) / "values", Path(tmp) / "out"
        generate(values, args.nodes)
        t0 = time.perf_counter()
        nodes = load_nodes(values)
        t1 = time.perf_counter()
        rendered = [render_node(n) for n in nodes]
        t2 = time.perf_counter()
        refused = [p for node, r in zip(nodes, rendered, strict=True) for p in refusals(node, r)]
        t3 = time.perf_counter()
        write_outputs(rendered, out)
        t4 = time.perf_counter()
        assert not refused, refused
        cmd = [sys.executable, "-m", "cachemgr", "render", "--values", str(values), "--out", str(Path(tmp) / "cmd")]
        c0 = time.perf_counter()
        subprocess.run(cmd, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
        command = time.perf_counter() - c0
    total = t4 - t0
    print(
        f"nodes={len(nodes)} validate={t1 - t0:.2f}s render={t2 - t1:.2f}s check={t3 - t2:.2f}s write={t4 - t3:.2f}s "
        f"total={total:.2f}s command={command:.2f}s target<=10s ({'met' if command <= 10 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
