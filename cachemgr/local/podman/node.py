"""A node's cache as a real pod: rendered as `cachemgr render` writes it, applied as an admin applies it.

The node is rendered with loopback ports and its namespace roots (hostPath) under a temp dir; everything the
container sees inside (paths.config, paths.run, the host cert's mount) keeps the node's own values. Its ConfigMap
and host cert Secret come from real `kubectl create … --dry-run=client -o yaml`, its Deployment from
k8s/<node>.yaml, changed only by the transforms in transform.py, then `podman kube play` runs it.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cachemgr.core import files, procs
from cachemgr.credentials import throwaway
from cachemgr.local import sandbox
from cachemgr.local.podman import engine, transform
from cachemgr.render.engine import render_node
from cachemgr.render.site import load_nodes
from cachemgr.render.write import write_outputs
from cachemgr.values.resolve import NodeValues


@dataclass
class PodNode:
    root: Path
    values_dir: Path
    node: str
    overrides: dict[str, Any]
    values: NodeValues = field(init=False)
    deployment: dict[str, Any] = field(init=False)  # k8s/<node>.yaml as rendered
    ca: throwaway.Issued | None = None  # the throw-away CA behind the host cert Secret and the CA dir
    secrets: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> Secret, as kubectl makes it
    hostname: str = field(default_factory=socket.gethostname)  # the node's name, which a hostNetwork pod has

    def __post_init__(self) -> None:
        self.render()

    # What an admin does: edit values, render, create the ConfigMap, apply the Deployment.

    def render(self, **changed: Any) -> None:
        """Validate and render the node (with these values changed), writing site/ as `cachemgr render` does."""
        self.overrides.update(changed)
        (self.values,) = load_nodes(self.values_dir, [self.node], self.overrides)
        write_outputs([render_node(self.values)], self.site)
        self.deployment = yaml.safe_load((self.site / "k8s" / f"{self.node}.yaml").read_text())

    @property
    def site(self) -> Path:
        return self.root / "site"

    @property
    def hostcert(self) -> tuple[Path, Path]:
        """The host certificate and key the Secret is made from."""
        return self.root / "hostcert" / "tls.crt", self.root / "hostcert" / "tls.key"

    @property
    def played(self) -> Path:
        """The transformed Deployment kube play runs (written by manifests)."""
        return self.root / "pod" / "deployment.yaml"

    @property
    def pod(self) -> str:
        return f"{self.deployment['metadata']['name']}-pod-0"  # how kube play names a Deployment's pod

    @property
    def container(self) -> str:
        return f"{self.pod}-cache"

    def configmap(self) -> dict[str, Any]:
        volumes = self.deployment["spec"]["template"]["spec"]["volumes"]
        name = next(v["configMap"]["name"] for v in volumes if "configMap" in v)
        configmaps = self.site / "configmaps" / self.node
        ns = self.values["k8s.namespace"]
        return engine.kubectl_dry_run("-n", ns, "create", "configmap", name, f"--from-file={configmaps}/")

    def issue_host_cert(self) -> None:
        """The CA dir on the host (hostPath) and the host cert Secret, signed by a throw-away CA."""
        v = self.values
        self.ca = throwaway.make_ca()
        throwaway.install_ca(self.ca, Path(v["auth.cadir"]))
        cert, key = self.hostcert
        throwaway.issue(self.ca, "localhost", host=True).write(cert, key)
        name = v["auth.hostcert_secret"]
        self.secrets[name] = engine.kubectl_dry_run(
            "-n", v["k8s.namespace"], "create", "secret", "tls", name, f"--cert={cert}", f"--key={key}"
        )

    def manifests(self) -> tuple[Path, Path]:
        """The ConfigMap and the transformed Deployment, written for kube play."""
        pod_dir = self.root / "pod"
        shutil.rmtree(pod_dir, ignore_errors=True)
        pod_dir.mkdir()
        configmap = pod_dir / "configmap.yaml"
        configmap.write_text(yaml.safe_dump(self.configmap()))
        for name, secret in self.secrets.items():  # what `kubectl apply` would get; the pod mounts its projection
            files.install(pod_dir / f"secret-{name}.yaml", yaml.safe_dump(secret).encode(), 0o600)
        played = transform.for_podman(self.deployment, self.secrets, pod_dir / "secrets", self.hostname)
        self.played.write_text(yaml.safe_dump(played))
        return configmap, self.played

    # The pod's life.

    def play(self) -> None:
        image = self.deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        if not engine.image_exists(image):
            raise engine.EngineError(f"no image {image}: build it with images/build.sh")
        configmap, deployment = self.manifests()
        engine.podman("kube", "play", "--configmap", str(configmap), str(deployment), timeout=180)

    def exec(self, *args: str, timeout: float = 60, check: bool = False) -> subprocess.CompletedProcess:
        return engine.podman("exec", self.container, *args, timeout=timeout, check=check)

    def health(self, flag: str, check: bool = False) -> subprocess.CompletedProcess:
        """The pod's probe as the kubelet runs it; check: EngineError with what it said when it fails."""
        return self.exec("cachemgr", "health", flag, "--config", self.values["paths.config"], check=check)

    def wait(self, flag: str = "--live", timeout: float = 180) -> None:
        """Until the probe passes; the error names what it said last (health prints what still fails)."""
        procs.wait_until(
            lambda: self.health(flag, check=True),
            timeout,
            1,
            f"pod {self.pod} not {flag[2:]}",
            ignore=(engine.EngineError,),
            error=engine.EngineError,
        )

    def logs(self) -> str:
        result = engine.podman("logs", self.container, check=False)
        return result.stdout + result.stderr

    def down(self) -> None:
        """As the kubelet stops a pod: SIGTERM, the grace period for the drain, then SIGKILL; then remove it."""
        grace = self.deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        engine.remove_pod(self.pod, self.played, grace)


def create(
    values_dir: Path, node: str, root: Path, origin: str | None = None, extra: dict[str, Any] | None = None
) -> PodNode:
    """The node rendered for this machine: loopback ports, its namespace roots and CA dir under root (hostPath),
    with the host cert Secret when its authenticated instance is on."""
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # the pod's xrootd user walks into its hostPath roots
    (base,) = load_nodes(values_dir, [node])
    o = {
        **sandbox.loopback(base, origin),
        **sandbox.relocated(base, root, ("cache.", "auth.cadir")),  # the hostPaths; the container's own stay
        **(extra or {}),
    }
    node_ = PodNode(root, values_dir, node, o)
    sandbox.lay_out_disks(node_.values)
    if node_.values["auth.enabled"]:
        node_.issue_host_cert()
    return node_
