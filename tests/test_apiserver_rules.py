"""The API server's rules (cachemgr/k8s): each refuses its bad case and accepts its good one; every committed
manifest, and what kubectl and kustomize make of the committed outputs, decodes into the kubernetes client's
models and passes every rule. (tests/test_values_errors.py reports the refusals at the values.)"""

from __future__ import annotations

import copy
import os
import re
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from kubernetes.client import V1ConfigMap, V1Deployment
from kubernetes.utils.quantity import parse_quantity
from support import EXAMPLE, REPO

from cachemgr.core import quantity
from cachemgr.k8s.objects import DecodeError, load_object
from cachemgr.k8s.rules import RULES, refusals

# The property tests run FUZZ_EXAMPLES inputs each: CACHEMGR_FUZZ_EXAMPLES=100000 for the long run.
FUZZ_EXAMPLES = int(os.environ.get("CACHEMGR_FUZZ_EXAMPLES", "1000"))
NODES = sorted(p.stem for p in (EXAMPLE / "nodes").glob("*.yaml"))
DEPLOYMENT = yaml.safe_load((REPO / "k8s" / "local.yaml").read_text())  # auth on: every kind of volume
CONFIGMAP = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "xcache-local-config", "namespace": "osg-caches"},
    "data": {p.name: p.read_text() for p in (REPO / "configmaps" / "local").iterdir()},
}


def pod(d: dict) -> dict:
    return d["spec"]["template"]["spec"]


def cache(d: dict) -> dict:
    return pod(d)["containers"][0]


def init(d: dict) -> dict:
    return pod(d)["initContainers"][0]


def volume(d: dict, name: str) -> dict:
    return next(v for v in pod(d)["volumes"] if v["name"] == name)


def tolerate(**t: Any) -> Callable[[dict], None]:
    return lambda d: pod(d).__setitem__("tolerations", [t])


def node_affinity(requirement: dict) -> Callable[[dict], None]:
    terms = {"nodeSelectorTerms": [{"matchExpressions": [requirement]}]}
    return lambda d: pod(d).__setitem__(
        "affinity", {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": terms}}
    )


def pod_anti_affinity(term: dict) -> Callable[[dict], None]:
    return lambda d: pod(d).__setitem__(
        "affinity", {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    )


def preferred(weight: int) -> Callable[[dict], None]:
    term = {"weight": weight, "preference": {"matchExpressions": [{"key": "disk", "operator": "Exists"}]}}
    return lambda d: pod(d).__setitem__(
        "affinity", {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [term]}}
    )


def resources(**r: dict) -> Callable[[dict], None]:
    return lambda d: cache(d).__setitem__("resources", r)


def probe(name: str, **fields: Any) -> Callable[[dict], None]:
    return lambda d: cache(d)[name].update(fields)


# (rule, what it changes in the local node's Deployment, the refusal it gives, or None: accepted)
DEPLOYMENT_CASES: list[tuple[str, Callable[[dict], None], str | None]] = [
    ("object names", lambda d: d["metadata"].update(name="xcache_local"), "RFC 1123 subdomain"),
    ("object names", lambda d: d["metadata"].update(namespace="osg.caches"), "RFC 1123 label"),
    ("labels", lambda d: d["metadata"]["labels"].update({"a/b/c": "x"}), "at most one '/'"),
    ("labels", lambda d: pod(d)["nodeSelector"].update({"kubernetes.io/hostname": "h" * 64}), "no more than 63"),
    ("labels", lambda d: pod(d)["nodeSelector"].update({"kubernetes.io/hostname": "Node_1.example"}), None),
    ("annotations", lambda d: d["spec"]["template"]["metadata"]["annotations"].update({"-bad": "x"}), "name part"),
    ("annotations", lambda d: d["spec"]["template"]["metadata"]["annotations"].update(a="x" * (256 << 10)), "Too long"),
    ("annotations", lambda d: d["spec"]["template"]["metadata"]["annotations"].update({"Example.ORG/Key": "x"}), None),
    ("selector", lambda d: d["spec"]["selector"]["matchLabels"].update(extra="x"), "does not match"),
    ("selector", lambda d: d["spec"]["selector"].update(matchLabels={}), "empty selector"),
    ("strategy", lambda d: d["spec"]["strategy"].update(rollingUpdate={"maxSurge": 1}), "may not be specified"),
    ("strategy", lambda d: d["spec"]["strategy"].update(type="Rolling"), "Unsupported value"),
    (
        "strategy",
        lambda d: d["spec"].update(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}),
        None,
    ),
    ("replicas", lambda d: d["spec"].update(replicas=-1), "greater than or equal to 0"),
    ("restart policy", lambda d: pod(d).update(restartPolicy="Never"), "Unsupported value"),
    ("dns policy", lambda d: pod(d).update(dnsPolicy="HostNet"), "Unsupported value"),
    ("tolerations", tolerate(key="dedicated", operator="Exists", value="xcache"), "value must be empty"),
    ("tolerations", tolerate(key="dedicated", value="xcache", effect="NoSchedule"), None),  # no operator: Equal
    ("tolerations", tolerate(operator="Exists"), None),  # tolerates everything
    ("tolerations", tolerate(value="x"), "operator must be Exists when `key` is empty"),
    ("tolerations", tolerate(key="a", operator="In"), "Unsupported value"),
    ("tolerations", tolerate(key="a", operator="Exists", effect="NoSchedule", tolerationSeconds=5), "'NoExecute'"),
    ("tolerations", tolerate(key="a", operator="Exists", effect="NoExecute", tolerationSeconds=5), None),
    ("tolerations", tolerate(key="a", operator="Exists", effect="Never"), "Unsupported value"),
    ("tolerations", tolerate(key="a", value="not a label value"), "alphanumeric at both ends"),
    ("affinity", node_affinity({"key": "disk", "operator": "In"}), "must be specified when `operator` is 'In'"),
    ("affinity", node_affinity({"key": "disk", "operator": "Exists", "values": ["ssd"]}), "may not be specified"),
    ("affinity", node_affinity({"key": "cores", "operator": "Gt", "values": ["8", "9"]}), "single value"),
    (
        "affinity",
        node_affinity({"key": "disk", "operator": "Like", "values": ["ssd"]}),
        "not a valid selector operator",
    ),
    ("affinity", node_affinity({"key": "disk", "operator": "In", "values": ["ssd"]}), None),
    ("affinity", preferred(0), "range 1-100"),
    ("affinity", preferred(100), None),
    (
        "affinity",
        pod_anti_affinity({"labelSelector": {"matchLabels": {"app": "x"}}, "topologyKey": ""}),
        "can not be empty",
    ),
    ("affinity", pod_anti_affinity({"labelSelector": {"matchLabels": {"app": "x"}}, "topologyKey": "zone"}), None),
    ("containers", lambda d: init(d).update(name="cache"), "Duplicate value"),
    ("containers", lambda d: cache(d).update(name="Cache"), "RFC 1123 label"),
    ("containers", lambda d: cache(d).update(image=""), "Required value"),
    ("ports", lambda d: cache(d)["ports"][0].update(name="noauth-xroot-port"), "no more than 15"),
    ("ports", lambda d: cache(d)["ports"][0].update(name="1094"), "at least one letter"),
    ("ports", lambda d: cache(d)["ports"][0].update(name="noauth--xroot"), "consecutive hyphens"),
    ("ports", lambda d: cache(d)["ports"][1].update(name="noauth-xroot"), "Duplicate value"),
    ("ports", lambda d: cache(d)["ports"][1].update(containerPort=1094), "Duplicate value"),  # hostNetwork
    ("ports", lambda d: cache(d)["ports"][0].update(hostPort=2094), "must match `containerPort`"),
    ("ports", lambda d: cache(d)["ports"][0].update(protocol="HTTP"), "Unsupported value"),
    ("ports", lambda d: cache(d)["ports"][1].update(containerPort=1094, protocol="UDP"), None),
    ("resources", resources(requests={"memory": "17Gi"}, limits={"memory": "16Gi"}), "less than or equal to memory"),
    ("resources", resources(requests={"cpu": "2500m"}, limits={"cpu": "2"}), "less than or equal to cpu limit"),
    ("resources", resources(requests={"cpu": "1_000"}), "not a Kubernetes quantity"),
    ("resources", resources(limits={"memory": "16GB"}), "not a Kubernetes quantity"),
    ("resources", resources(requests={"cpu": "-1"}), "greater than or equal to 0"),
    ("resources", resources(requests={"gpu": "1"}), "standard resource"),
    ("resources", resources(requests={"cpu": "0.5", "memory": "1e9"}, limits={"cpu": "500m", "memory": "1G"}), None),
    ("probes", probe("livenessProbe", httpGet={"port": 8000}), "more than 1 handler type"),
    ("probes", lambda d: cache(d).update(readinessProbe={"periodSeconds": 5}), "must specify a handler type"),
    ("probes", probe("livenessProbe", successThreshold=2), "must be 1"),
    ("probes", probe("startupProbe", successThreshold=3), "must be 1"),
    ("probes", probe("readinessProbe", successThreshold=3), None),
    ("probes", probe("livenessProbe", successThreshold=0), None),  # defaulted to 1
    ("probes", probe("livenessProbe", failureThreshold=-1), "greater than or equal to 0"),
    ("probes", lambda d: init(d).update(livenessProbe=cache(d)["livenessProbe"]), "init containers"),
    (
        "security context",
        lambda d: cache(d)["securityContext"].update(privileged=True, allowPrivilegeEscalation=False),
        "cannot set",
    ),
    ("security context", lambda d: init(d)["securityContext"].update(runAsUser=1 << 32), "between 0 and 4294967295"),
    ("volumes", lambda d: pod(d)["volumes"].append({"name": "root-1", "emptyDir": {}}), "Duplicate value"),
    ("volumes", lambda d: pod(d)["volumes"].append({"name": "ca_dir", "emptyDir": {}}), "RFC 1123 label"),
    ("volumes", lambda d: volume(d, "cadir").update(emptyDir={}), "more than 1 volume type"),
    ("volumes", lambda d: volume(d, "cadir").pop("hostPath"), "must specify a volume type"),
    ("volumes", lambda d: volume(d, "cadir")["hostPath"].update(type="Dir"), "Unsupported value"),
    ("volumes", lambda d: volume(d, "cadir")["hostPath"].update(path="/etc/../certificates"), "must not contain '..'"),
    ("volumes", lambda d: volume(d, "cadir")["hostPath"].update(path="relative/is/fine/here"), None),
    ("volumes", lambda d: volume(d, "hostcert")["secret"].update(defaultMode=0o1000), "0777 (octal)"),
    ("volumes", lambda d: volume(d, "hostcert")["secret"]["items"][1].update(mode=-1), "0777 (octal)"),
    ("volumes", lambda d: volume(d, "hostcert")["secret"]["items"][1].update(path="/hostkey.pem"), "relative path"),
    ("volumes", lambda d: volume(d, "hostcert")["secret"]["items"][1].update(path="..hostkey.pem"), "start with '..'"),
    ("volumes", lambda d: volume(d, "hostcert")["secret"]["items"][1].update(path="keys/hostkey.pem"), None),
    ("volumes", lambda d: volume(d, "hostcert")["secret"].update(secretName=""), "Required value"),
    ("volumes", lambda d: volume(d, "config")["configMap"].update(defaultMode=0o7777), "0777 (octal)"),
    ("volume mounts", lambda d: cache(d)["volumeMounts"][1].update(name="root-9"), "Not found"),
    (
        "volume mounts",
        lambda d: cache(d)["volumeMounts"][1].update(mountPath="/etc/cachemgr/configmap"),
        "must be unique",
    ),
    ("volume mounts", lambda d: cache(d)["volumeMounts"][1].update(mountPath=""), "Required value"),
    ("volume mounts", lambda d: cache(d)["volumeMounts"][1].update(subPath="../up"), "must not contain '..'"),
    ("volume mounts", lambda d: cache(d)["volumeMounts"][1].update(mountPath="relative"), None),  # the runtime's rule
]
CONFIGMAP_CASES: list[tuple[str, Callable[[dict], None], str | None]] = [
    ("configmap keys", lambda c: c["data"].update({"sub/dir.cfg": "x"}), "alphanumeric characters"),
    ("configmap keys", lambda c: c["data"].update({"..cfg": "x"}), "start with '..'"),
    ("configmap keys", lambda c: c["data"].update({".hidden_file-1.cfg": "x"}), None),
    ("configmap size", lambda c: c["data"].update(big="x" * (1 << 20)), "at most 1048576 bytes"),
    ("configmap size", lambda c: c.update(data={"big": "x" * (1 << 20)}), None),  # exactly 1 MiB
    ("object names", lambda c: c["metadata"].update(name="xcache-" + "a" * 250), "no more than 253"),
    ("labels", lambda c: c["metadata"].update(labels={"app.kubernetes.io/instance": "-local"}), "alphanumeric"),
]


def found(raw: dict) -> set[tuple[str, str]]:
    return {(rule.name, r.message) for rule, r in refusals(load_object(raw, "test"))}


@pytest.mark.parametrize(
    ("base", "rule", "change", "refused"),
    [(DEPLOYMENT, *c) for c in DEPLOYMENT_CASES] + [(CONFIGMAP, *c) for c in CONFIGMAP_CASES],
    ids=[f"{c[0]}-{i}" for i, c in enumerate(DEPLOYMENT_CASES + CONFIGMAP_CASES)],
)
def test_rule(base, rule, change, refused):
    raw = copy.deepcopy(base)
    change(raw)
    got = found(raw)
    if refused is None:
        assert got == set(), got
    else:
        assert any(name == rule and refused in message for name, message in got), got
        assert {name for name, _ in got} == {rule}, f"other rules refused it too: {got}"


def test_every_rule_has_a_bad_and_a_good_case():
    bad = {c[0] for c in DEPLOYMENT_CASES + CONFIGMAP_CASES if c[2]}
    assert bad == {r.name for r in RULES}
    assert found(copy.deepcopy(DEPLOYMENT)) == set() and found(copy.deepcopy(CONFIGMAP)) == set()


def test_unknown_and_mistyped_fields_do_not_decode():
    raw = copy.deepcopy(DEPLOYMENT)
    pod(raw)["affinity"] = {"nodeAfinity": {}}
    with pytest.raises(DecodeError) as e:
        load_object(raw, "test")
    assert e.value.refusal.field == "spec.template.spec.affinity.nodeAfinity"
    term = {"weight": "high", "preference": {}}
    pod(raw)["affinity"] = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [term]}}
    with pytest.raises(DecodeError) as e:
        load_object(raw, "test")
    assert e.value.refusal.field.endswith("preferredDuringSchedulingIgnoredDuringExecution[0].weight")


@pytest.mark.parametrize(
    ("text", "value"),
    [("2", 2), ("500m", 0.5), ("16Gi", 16 << 30), ("1e3", 1000), ("1.5k", 1500), (".5", 0.5), ("+1M", 10**6)],
)
def test_quantity_values(text, value):
    assert quantity.parse(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["", "16GB", "1_000", "NaN", "Infinity", " 2", "2 ", "1.5.2", "ki", "2Ki5", "\u0661"])
def test_quantities_the_api_server_does_not_parse(text):
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        quantity.parse(text)


# apimachinery's quantity grammar, written out again: quantities drawn from it, with numbers of any length and every
# suffix, and any other text. What the grammar holds, quantity.parse must value as the client's parser does (the same
# Decimal, to the digit, or refuse it alike: an exponent beyond Decimal's range); the rest it must refuse.
GRAMMAR = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?"
TEXTS = st.one_of(
    st.from_regex(GRAMMAR, fullmatch=True),
    st.text(alphabet="0123456789.+-eEinumkKMGTP_ ", max_size=12),
    st.text(max_size=8),
)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(TEXTS)
def test_quantities_parse_to_the_clients_value_without_the_client(text):
    def outcome(parse: Callable[[str], Any]) -> tuple[Any, str] | str:
        try:
            value = parse(text)
        except ValueError:
            return "refused"
        return value, str(value)

    assert outcome(quantity.parse) == (outcome(parse_quantity) if re.fullmatch(GRAMMAR, text) else "refused")


def kubectl(*args: str) -> str:
    result = subprocess.run(["kubectl", *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def applied(node: str) -> list[tuple[str, dict]]:
    """What `kubectl apply -f` (with the ConfigMap of `kubectl create configmap`) and `kubectl apply -k` send."""
    configmap = kubectl(
        "create", "configmap", f"xcache-{node}-config", "-n", "osg-caches",
        f"--from-file={REPO / 'configmaps' / node}/", "--dry-run=client", "-o", "yaml",
    )  # fmt: skip
    docs = [(f"k8s/{node}.yaml", yaml.safe_load((REPO / "k8s" / f"{node}.yaml").read_text()))]
    docs.append(("kubectl create configmap", yaml.safe_load(configmap)))
    kustomized = yaml.safe_load_all(kubectl("kustomize", str(REPO / "k8s" / "kustomize" / node)))
    return docs + [(f"kubectl kustomize {node}", d) for d in kustomized]


@pytest.mark.parametrize("node", NODES)
def test_every_committed_manifest_loads_into_the_clients_models_and_passes_every_rule(node):
    objects = [load_object(raw, source) for source, raw in applied(node)]
    kinds = sorted(type(o.model).__name__ for o in objects)
    assert kinds == [V1ConfigMap.__name__, V1ConfigMap.__name__, V1Deployment.__name__, V1Deployment.__name__]
    for obj in objects:
        assert [(rule.name, r.field, r.message) for rule, r in refusals(obj)] == [], obj.source
