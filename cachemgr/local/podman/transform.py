"""The smallest changes Debian's podman 4.3.1 `kube play` needs to run a rendered Deployment as a cluster would.

Each transform names what podman does differently and why a cluster sees nothing else; tests/test_pod.py
checks each of these claims on the running pod. Nothing else in the manifest is touched.
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

from cachemgr.core import files

# podman runs an init container once and then removes it; 4.3.1 here times out waiting for its exit (20 s)
# and then fails to remove the still-"running" container. "always" keeps it: no removal, no race.
INIT_TYPE = "io.podman.annotations.init.container.type"

DEFAULT_MODE = 0o644  # a Secret volume's defaultMode when the manifest gives none


def drop_ports(spec: dict[str, Any]) -> None:
    """podman refuses containerPorts with hostNetwork ("PortMappings can only be used with Bridge or slirp4netns
    networking"). With hostNetwork a cluster maps nothing either: the ports are the host's, the list is a label."""
    for container in spec["containers"]:
        container.pop("ports", None)


def keep_init_containers(deployment: dict[str, Any]) -> None:
    """An annotation only podman reads (4.3.1 reads it from the Deployment's metadata, not the pod template's, so
    the pod and its config checksum stay as rendered); the init containers still run, in order, first."""
    if deployment["spec"]["template"]["spec"].get("initContainers"):
        deployment["metadata"].setdefault("annotations", {})[INIT_TYPE] = "always"


def node_host_name(spec: dict[str, Any], hostname: str) -> None:
    """A hostNetwork pod shares the node's UTS namespace, so its host name is the node's; podman names it after
    the pod instead (which does not resolve: xrootd exits 16)."""
    spec["hostname"] = hostname


def project(secret: dict[str, Any] | None, volume: dict[str, Any], directory: Path) -> None:
    """Write a Secret volume's files as the kubelet does: the listed items (all keys without items), each with
    its item mode or the volume's defaultMode, owned by root. A missing optional Secret gives an empty dir."""
    directory.mkdir(mode=0o755, parents=True)
    if secret is None:
        if not volume.get("optional"):
            raise ValueError(f"Secret {volume['secretName']} is missing and not optional: the pod cannot start")
        return
    data = {key: base64.b64decode(value) for key, value in (secret.get("data") or {}).items()}
    items = volume.get("items") or [{"key": key, "path": key} for key in sorted(data)]
    for item in items:
        if item["key"] not in data:
            raise ValueError(f"Secret {volume['secretName']} has no key {item['key']}")
        mode = item.get("mode", volume.get("defaultMode", DEFAULT_MODE))
        files.install(directory / item["path"], data[item["key"]], mode)


def secrets_as_host_paths(spec: dict[str, Any], secrets: dict[str, dict[str, Any]], root: Path) -> None:
    """podman 4.3.1 panics on a Secret volume with items (nil pointer in VolumeFromSecret). The Secret's files,
    projected under root as the kubelet would, are mounted read-only instead: same names, modes and bytes."""
    for volume in spec.get("volumes", []):
        if "secret" not in volume:
            continue
        source = volume.pop("secret")
        directory = root / volume["name"]
        project(secrets.get(source["secretName"]), source, directory)
        volume["hostPath"] = {"path": str(directory), "type": "Directory"}


def for_podman(deployment: dict[str, Any], secrets: dict[str, dict[str, Any]], secret_root: Path, hostname: str):
    """The Deployment with every transform applied (the input is left as it was)."""
    out = copy.deepcopy(deployment)
    template = out["spec"]["template"]
    spec = template["spec"]
    drop_ports(spec)
    keep_init_containers(out)
    if spec.get("hostNetwork"):
        node_host_name(spec, hostname)
    secrets_as_host_paths(spec, secrets, secret_root)
    return out
