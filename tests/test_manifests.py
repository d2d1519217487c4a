"""Per-node Kubernetes manifests: valid for k8s 1.30 and 1.37, pinned to their hardware, applied as they are.

No API server can run here: manifests are checked offline with kubernetes-validate (schemas of the
real API), `kubectl create configmap --dry-run=client` and `kubectl kustomize` (the real kubectl); the API
server's own validation rules are in test_apiserver_rules.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support import EXAMPLE, REPO, cachemgr

from cachemgr.core.pod import CONFIGMAP_MOUNT
from cachemgr.render.engine import render_node
from cachemgr.render.site import load_nodes

NODES = sorted(p.stem for p in (EXAMPLE / "nodes").glob("*.yaml"))
HOSTPATH_TYPES = {"", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice"}
NODE = "node:\n  hostname: n1.example.org\n"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("render")
    result = cachemgr("render", "--values", str(EXAMPLE), "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def kubectl(*args: str) -> str:
    result = subprocess.run(["kubectl", *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def deployment(out: Path, node: str) -> dict:
    (doc,) = list(yaml.safe_load_all((out / "k8s" / f"{node}.yaml").read_text()))
    return doc


def kustomized(out: Path, node: str) -> list[dict]:
    return list(yaml.safe_load_all(kubectl("kustomize", str(out / "k8s" / "kustomize" / node))))


@pytest.mark.parametrize("version", ["1.30.0", "1.37.0"])
def test_every_manifest_passes_strict_schema_validation(rendered, tmp_path, version):
    files = [rendered / "k8s" / f"{n}.yaml" for n in NODES]
    for node in NODES:  # what `kubectl apply -k` sends, too
        path = tmp_path / f"{node}-kustomized.yaml"
        path.write_text(kubectl("kustomize", str(rendered / "k8s" / "kustomize" / node)))
        files.append(path)
    validator = Path(sys.executable).with_name("kubernetes-validate")
    result = subprocess.run(
        [str(validator), "--strict", "-k", version, *map(str, files)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed for resource") == 3 * len(NODES)


@pytest.mark.parametrize("node", NODES)
def test_configmap_equals_kubectl_create_configmap(rendered, node):
    created = yaml.safe_load(
        kubectl(
            "create",
            "configmap",
            f"xcache-{node}-config",
            f"--from-file={rendered / 'configmaps' / node}/",
            "--dry-run=client",
            "-o",
            "yaml",
        )
    )
    (values,) = load_nodes(EXAMPLE, [node])
    assert created["data"] == render_node(values).configmap
    generated = [d for d in kustomized(rendered, node) if d["kind"] == "ConfigMap"]
    assert len(generated) == 1 and generated[0]["data"] == created["data"]


@pytest.mark.parametrize("node", NODES)
def test_kustomize_names_the_configmap_by_its_content(rendered, node, tmp_path):
    docs = kustomized(rendered, node)
    (cm,) = [d for d in docs if d["kind"] == "ConfigMap"]
    (dep,) = [d for d in docs if d["kind"] == "Deployment"]
    assert cm["metadata"]["name"].startswith(f"xcache-{node}-config-")  # suffix differs between versions
    volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert volumes["config"]["configMap"]["name"] == cm["metadata"]["name"]
    # A config change gives a new name (and so rolls the pod).
    copy = tmp_path / "k"
    shutil.copytree(rendered / "k8s" / "kustomize" / node, copy)
    (copy / "config" / "robots.txt").write_text("User-agent: *\nDisallow: /private\n")
    (cm2,) = [d for d in yaml.safe_load_all(kubectl("kustomize", str(copy))) if d["kind"] == "ConfigMap"]
    assert cm2["metadata"]["name"] != cm["metadata"]["name"]


def test_kustomize_copy_equals_configmap_dir(rendered):
    for node in NODES:
        for key in (rendered / "configmaps" / node).iterdir():
            copy = rendered / "k8s" / "kustomize" / node / "config" / key.name
            assert copy.read_bytes() == key.read_bytes()
        assert (rendered / "k8s" / "kustomize" / node / "deployment.yaml").read_bytes() == (
            rendered / "k8s" / f"{node}.yaml"
        ).read_bytes()


@pytest.mark.parametrize("node", NODES)
def test_deployment_is_pinned_to_its_hardware(rendered, node):
    (v,) = load_nodes(EXAMPLE, [node])
    dep = deployment(rendered, node)
    spec, pod = dep["spec"], dep["spec"]["template"]["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    assert pod["nodeSelector"] == {"kubernetes.io/hostname": v["node.hostname"]}
    assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert pod["terminationGracePeriodSeconds"] > v["k8s.drain"]

    host_paths = {
        vol["hostPath"]["path"]: vol["hostPath"].get("type", "") for vol in pod["volumes"] if "hostPath" in vol
    }
    assert all(t in HOSTPATH_TYPES for t in host_paths.values())
    roots = [v["cache.root"]] + ([v["cache.auth_root"]] if v["auth.enabled"] else [])
    for disk in roots + v["cache.data_disks"] + v["cache.meta_disks"]:
        assert host_paths[disk] == "Directory", disk
    (cache,) = pod["containers"]
    mounts = {m["mountPath"]: m for m in cache["volumeMounts"]}
    assert all(d in mounts for d in roots + v["cache.data_disks"] + v["cache.meta_disks"])
    assert mounts[CONFIGMAP_MOUNT]["readOnly"] is True and cache["args"] == [
        "supervise",
        "--configmap",
        CONFIGMAP_MOUNT,
    ]

    assert cache["resources"] == {
        "requests": {"cpu": v["k8s.cpu_request"], "memory": v["k8s.memory_request"]},
        "limits": {"cpu": v["k8s.cpu_limit"], "memory": v["k8s.memory_limit"]},
    }
    assert cache["livenessProbe"]["exec"]["command"][:3] == ["cachemgr", "health", "--live"]
    assert cache["readinessProbe"]["exec"]["command"][:3] == ["cachemgr", "health", "--ready"]
    assert not cache.get("securityContext", {}).get("privileged")
    assert all(not c.get("securityContext", {}).get("privileged") for c in pod.get("initContainers", []))
    assert not cache["image"].endswith(":latest") and ":" in cache["image"]
    annotations = dep["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(v["ports.metrics"])
    assert len(annotations["cachemgr/config-sha256"]) == 64
    assert next(p for p in cache["ports"] if p["name"] == "metrics")["containerPort"] == v["ports.metrics"]
    assert ("initContainers" in pod) == v["k8s.init_chown"]


def test_host_cert_from_secret_has_strict_modes(rendered):
    pod = deployment(rendered, "local")["spec"]["template"]["spec"]
    (secret,) = [vol["secret"] for vol in pod["volumes"] if "secret" in vol]
    assert secret["secretName"] == "xcache-hostcert"
    modes = {item["key"]: item["mode"] for item in secret["items"]}
    assert secret["defaultMode"] == 0o400 and modes == {"tls.crt": 0o444, "tls.key": 0o400}


def test_host_cert_from_hostpath(values):
    vdir = values({"n1": NODE + "auth:\n  enabled: true\n  hostcert_from: hostpath\n"})
    (v,) = load_nodes(vdir)
    pod = yaml.safe_load(render_node(v).deployment)["spec"]["template"]["spec"]
    files = {vol["hostPath"]["path"]: vol["hostPath"]["type"] for vol in pod["volumes"] if "hostPath" in vol}
    assert files[v["auth.hostcert"]] == "File" and files[v["auth.hostkey"]] == "File"
    assert not [vol for vol in pod["volumes"] if "secret" in vol]


def test_tolerations_and_affinity_come_from_values(values):
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [{"key": "disktype", "operator": "In", "values": ["ssd"]}]}]
            }
        }
    }
    vdir = values(
        {
            "n1": NODE + "k8s:\n  tolerations: [{key: dedicated, value: xcache, effect: NoSchedule}]\n"
            f"  affinity: {json.dumps(affinity)}\n"
        }
    )
    pod = yaml.safe_load(render_node(load_nodes(vdir)[0]).deployment)["spec"]["template"]["spec"]
    # As written: no operator is Equal to the API server (Exists with a value is refused)
    assert pod["tolerations"] == [{"key": "dedicated", "value": "xcache", "effect": "NoSchedule"}]
    assert pod["affinity"] == affinity


def test_config_change_changes_the_checksum_annotation(values):
    vdir = values({"n1": NODE})
    before = yaml.safe_load(render_node(load_nodes(vdir)[0]).deployment)
    (vdir / "nodes" / "n1.yaml").write_text(NODE + "cache:\n  prefetch: 3\n")
    after = yaml.safe_load(render_node(load_nodes(vdir)[0]).deployment)
    key = "cachemgr/config-sha256"
    assert (
        before["spec"]["template"]["metadata"]["annotations"][key]
        != after["spec"]["template"]["metadata"]["annotations"][key]
    )


def test_no_private_key_in_any_configmap(rendered):
    for path in [*(rendered / "configmaps").rglob("*"), *(rendered / "k8s").rglob("*")]:
        if path.is_file():
            assert "PRIVATE KEY" not in path.read_text(), path


def test_fleet_scrape_config_is_valid_for_prometheus(rendered):
    result = subprocess.run(
        ["promtool", "check", "config", str(rendered / "k8s" / "fleet" / "prometheus-scrape.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    jobs = yaml.safe_load((rendered / "k8s" / "fleet" / "prometheus-scrape.yml").read_text())["scrape_configs"]
    targets = [t for group in jobs[0]["static_configs"] for t in group["targets"]]
    assert len(targets) == len(NODES)


def test_fleet_podmonitor_selects_the_cache_pods(rendered):
    """PodMonitor is a prometheus-operator CRD with no schema here: check its shape against the pods."""
    (pm,) = [d for d in yaml.safe_load_all((rendered / "k8s" / "fleet" / "podmonitor.yaml").read_text()) if d]
    assert pm["apiVersion"] == "monitoring.coreos.com/v1" and pm["kind"] == "PodMonitor"
    pod_labels = deployment(rendered, "local")["spec"]["template"]["metadata"]["labels"]
    assert pm["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    endpoint = pm["spec"]["podMetricsEndpoints"][0]
    assert endpoint["port"] == "metrics"
    # The node label the alerts and dashboard group by: the pod's instance label, which is its node's name.
    (relabel,) = endpoint["relabelings"]
    source = "__meta_kubernetes_pod_label_app_kubernetes_io_instance"
    assert relabel == {"sourceLabels": [source], "targetLabel": "node"}
    assert pod_labels["app.kubernetes.io/instance"] == "local"


def test_rendering_a_subset_leaves_fleet_files_alone(tmp_path):
    out = tmp_path / "out"
    assert cachemgr("render", "--values", str(EXAMPLE), "--out", str(out), "local").returncode == 0
    assert not (out / "k8s" / "fleet").exists()
    assert (REPO / "k8s" / "fleet" / "prometheus-scrape.yml").exists()
