"""Put rendered output on disk.

OUT/configmaps/<node>/<key>              the ConfigMap files (kubectl create configmap --from-file)
OUT/k8s/<node>.yaml                      the Deployment
OUT/k8s/kustomize/<node>/                kustomization.yaml, deployment.yaml and config/<key>
OUT/k8s/fleet/                           Prometheus scrape job and PodMonitor for all nodes

Everything is rendered in memory first and staged beside the targets, so a failure leaves the old
outputs as they were. Directories are swapped whole, so a file a node no longer has (Authfile-auth
after turning auth off) does not linger and end up in `kubectl create configmap`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from cachemgr.render.engine import RenderedNode


def _files_in(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()}


def _same_dir(path: Path, files: dict[str, str]) -> bool:
    if not path.is_dir() or _files_in(path) != set(files):
        return False
    return all((path / rel).read_text() == text for rel, text in files.items())


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    path.write_text(text)
    path.chmod(0o644)


def _replace_dir(target: Path, files: dict[str, str], staging: Path) -> bool:
    if _same_dir(target, files):
        return False
    new = Path(tempfile.mkdtemp(dir=staging))
    for rel, text in files.items():
        _write(new / rel, text)
    new.chmod(0o755)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        target.rename(Path(tempfile.mkdtemp(dir=staging)) / "old")
    new.rename(target)
    return True


def _replace_file(target: Path, text: str, staging: Path) -> bool:
    if target.is_file() and target.read_text() == text:
        return False
    tmp = Path(tempfile.mkdtemp(dir=staging)) / target.name
    _write(tmp, text)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, target)
    return True


def write_outputs(nodes: list[RenderedNode], out: Path, fleet: dict[str, str] | None = None) -> list[Path]:
    """Write every node (and the fleet files when given); return the paths that changed."""
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".cachemgr-render-", dir=out))
    planned: list[tuple[Path, dict[str, str] | str]] = []
    for node in nodes:
        kustomize = {"kustomization.yaml": node.kustomization, "deployment.yaml": node.deployment}
        kustomize.update({f"config/{key}": text for key, text in node.configmap.items()})
        planned += [
            (out / "configmaps" / node.name, node.configmap),
            (out / "k8s" / f"{node.name}.yaml", node.deployment),
            (out / "k8s" / "kustomize" / node.name, kustomize),
        ]
    if fleet is not None:
        planned.append((out / "k8s" / "fleet", fleet))
    changed: list[Path] = []
    try:
        for target, content in planned:
            replace = _replace_file if isinstance(content, str) else _replace_dir
            if replace(target, content, staging):  # type: ignore[arg-type]
                changed.append(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return changed
