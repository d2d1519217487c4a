"""Put rendered output on disk.

OUT/configmaps/<node>/<key>              the ConfigMap files (kubectl create configmap --from-file)
OUT/k8s/<node>.yaml                      the Deployment
OUT/k8s/kustomize/<node>/                kustomization.yaml, deployment.yaml and config/<key>
OUT/k8s/fleet/                           Prometheus scrape job and PodMonitor for all nodes

Everything is rendered in memory first, and every changed output is staged beside the targets before the first
one is swapped in, so a failure while staging leaves the old outputs as they were. Directories are swapped whole,
so a file a node no longer has (Authfile-auth after turning auth off) does not linger and end up in `kubectl create
configmap`. Outputs that did not change are left alone.

A node's files with the same text (its ConfigMap files in configmaps/<node>/ and kustomize/<node>/config/, its
Deployment in k8s/<node>.yaml and kustomize/<node>/deployment.yaml) are staged as one file and hard links to it:
what costs when writing a thousand nodes is creating files (an inode each), and a link creates none.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
from pathlib import Path

from cachemgr.render.engine import RenderedNode

Content = dict[str, str] | str  # a directory's files by relative path, or one file's text


def _files_in(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()}


def _unchanged(target: Path, content: Content) -> bool:
    if isinstance(content, str):
        return target.is_file() and target.read_bytes() == content.encode()
    if not target.is_dir() or _files_in(target) != set(content):
        return False
    return all((target / rel).read_bytes() == text.encode() for rel, text in content.items())


# Staging makes tens of thousands of files for a big site: plain str paths and os calls, no pathlib.
def _stage_file(path: str, text: str, same_text: dict[str, str]) -> None:
    """Write path (mode 0644, whatever the umask), or link it to a file already staged with this text (same_text:
    the group's, by text)."""
    if text in same_text:
        os.link(same_text[text], path)
        return
    with open(path, "xb") as f:
        os.fchmod(f.fileno(), 0o644)
        f.write(text.encode())
    same_text[text] = path


def _stage(content: Content, path: str, same_text: dict[str, str]) -> None:
    if isinstance(content, str):
        _stage_file(path, content, same_text)
        return
    os.mkdir(path)
    os.chmod(path, 0o755)
    for sub in sorted({posixpath.dirname(rel) for rel in content} - {""}):
        os.makedirs(os.path.join(path, sub), 0o755, exist_ok=True)
    for rel, text in content.items():
        _stage_file(os.path.join(path, rel), text, same_text)


def _groups(nodes: list[RenderedNode], out: Path, fleet: dict[str, str] | None) -> list[list[tuple[Path, Content]]]:
    """Each node's targets, then the fleet's: files are linked only within a group."""
    groups: list[list[tuple[Path, Content]]] = []
    for node in nodes:
        kustomize = {"kustomization.yaml": node.kustomization, "deployment.yaml": node.deployment}
        kustomize.update({f"config/{key}": text for key, text in node.configmap.items()})
        groups.append(
            [
                (out / "configmaps" / node.name, node.configmap),
                (out / "k8s" / f"{node.name}.yaml", node.deployment),
                (out / "k8s" / "kustomize" / node.name, kustomize),
            ]
        )
    if fleet is not None:
        groups.append([(out / "k8s" / "fleet", fleet)])
    return groups


def write_outputs(nodes: list[RenderedNode], out: Path, fleet: dict[str, str] | None = None) -> list[Path]:
    """Write every node (and the fleet files when given); return the paths that changed."""
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".cachemgr-render-", dir=out))
    staged: list[tuple[Path, Path]] = []  # (new, target)
    try:
        for group in _groups(nodes, out, fleet):
            same_text: dict[str, str] = {}
            for target, content in group:
                if not _unchanged(target, content):
                    new = staging / f"new-{len(staged)}"
                    _stage(content, str(new), same_text)
                    staged.append((new, target))
        for i, (new, target) in enumerate(staged):
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_dir():  # a directory is not replaced by rename: move the old one out first
                target.rename(staging / f"old-{i}")
            os.replace(new, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [target for _, target in staged]
