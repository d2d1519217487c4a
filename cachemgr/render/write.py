"""Put rendered nodes on disk: OUT/configmaps/<node>/<key> and OUT/k8s/<node>.yaml.

Everything is rendered in memory first and staged beside the targets, so a failure leaves the old
outputs as they were. Each node's ConfigMap directory is swapped whole, so a file the node no longer
has (e.g. Authfile-auth after turning auth off) does not linger and end up in `kubectl create configmap`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from cachemgr.render.engine import RenderedNode


def _same_dir(path: Path, files: dict[str, str]) -> bool:
    if not path.is_dir():
        return False
    present = {p.name for p in path.iterdir()}
    return present == set(files) and all((path / k).read_text() == t for k, t in files.items())


def write_outputs(nodes: list[RenderedNode], out: Path) -> list[Path]:
    """Write every node; return the paths that changed."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "configmaps").mkdir(exist_ok=True)
    (out / "k8s").mkdir(exist_ok=True)
    changed: list[Path] = []
    staging = Path(tempfile.mkdtemp(prefix=".cachemgr-render-", dir=out))
    try:
        for node in nodes:
            cm_dir = out / "configmaps" / node.name
            if not _same_dir(cm_dir, node.configmap):
                new = staging / f"{node.name}.configmap"
                new.mkdir()
                for key, text in node.configmap.items():
                    (new / key).write_text(text)
                    (new / key).chmod(0o644)
                new.chmod(0o755)
                if cm_dir.exists():
                    cm_dir.rename(staging / f"{node.name}.old")
                new.rename(cm_dir)
                changed.append(cm_dir)
            manifest = out / "k8s" / f"{node.name}.yaml"
            if not manifest.is_file() or manifest.read_text() != node.manifest:
                tmp = staging / f"{node.name}.yaml"
                tmp.write_text(node.manifest)
                tmp.chmod(0o644)
                os.replace(tmp, manifest)
                changed.append(manifest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return changed
