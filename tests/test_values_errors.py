"""Bad values: exit 2, one `FILE:LINE: KEY: reason` line each, no traceback, nothing written."""

from __future__ import annotations

import re

import pytest
from support import MINIMAL_SITE, cachemgr

NODE_HEAD = "node:\n  hostname: n1.example.org\n"  # lines 1-2; a case's text starts on line 3 (or 1: its own node:)
LONG_HOST = "cache-01." + "a" * 50 + ".example.org"  # a host name, but 71 characters: no label value
BIG_DIRECTIVE = "# " + "x" * (1 << 20)  # rendered into xrootd-noauth.cfg: the ConfigMap is over 1 MiB

# (id, node file text after NODE_HEAD, site.yaml text or None, file, line, key, reason fragment)
CASES = [
    ("wrong-type", "cache:\n  prefetch: lots\n", None, "n1", 4, "cache.prefetch", "valid integer"),
    ("bad-size", "cache:\n  ram: 30x\n", None, "n1", 4, "cache.ram", '"30x" is not a size (use 30g)'),
    ("bad-duration", "cache:\n  purge_interval: 5 minutes\n", None, "n1", 4, "cache.purge_interval", "not a duration"),
    (
        "low-ge-high",
        "cache:\n  disk_low: 0.96\n  disk_high: 0.95\n",
        None,
        "n1",
        4,
        "cache.disk_low",
        "must be below the high watermark",
    ),
    ("fraction-range", "cache:\n  disk_high: 1.5\n", None, "n1", 4, "cache.disk_high", "between 0 and 1"),
    ("unknown-key", "cache:\n  rma: 8g\n", None, "n1", 4, "cache.rma", 'did you mean "cache.ram"'),
    (
        "relative-disk",
        "cache:\n  data_disks: [/xcache/data1, xcache/data2]\n",
        None,
        "n1",
        4,
        "cache.data_disks[1]",
        "not an absolute path",
    ),
    (
        "duplicate-ports",
        "ports:\n  xroot: 1094\n  http: 1094\n",
        None,
        "n1",
        5,
        "ports.http",
        "already used by ports.xroot",
    ),
    (
        "hash-in-path",
        "auth:\n  gridmap: /etc/grid#map\n",
        None,
        "n1",
        4,
        "auth.gridmap",
        "contains white space, # or a quote",
    ),
    ("port-range", "ports:\n  http: 70000\n", None, "n1", 4, "ports.http", "not a TCP/UDP port"),
    ("missing-origin", "", "site:\n  name: X\n", "n1", 1, "origin.host", "is required"),
    (
        "bad-namespace",
        "namespaces:\n  public: [/ok, 'user/*']\n",
        None,
        "n1",
        4,
        "namespaces.public[1]",
        "not an absolute path",
    ),
    (
        "protected-no-account",
        "namespaces:\n  protected:\n    - path: /user/ligo\n",
        None,
        "n1",
        5,
        "namespaces.protected[0].account",
        "Field required",
    ),
    ("yaml-syntax", "cache:\n  ram: [1g\n", None, "n1", 5, "yaml", "expected ',' or ']', but got '<stream end>'"),
    ("duplicate-key", "cache:\n  ram: 2g\n  ram: 3g\n", None, "n1", 5, "cache.ram", "duplicate key"),
    ("purge-too-often", "cache:\n  purge_interval: 30s\n", None, "n1", 4, "cache.purge_interval", "below 60s"),
    ("ram-too-small", "cache:\n  ram: 512m\n", None, "n1", 4, "cache.ram", "at least 1g"),
    (
        "meta-without-data",
        "cache:\n  meta_disks: [/xcache/meta1]\n",
        None,
        "n1",
        4,
        "cache.meta_disks",
        "need data disks",
    ),
    ("image-latest", "k8s:\n  image: cachemgr/cache:latest\n", None, "n1", 4, "k8s.image", '"latest" is not allowed'),
    (
        "node-key-in-site",
        "",
        MINIMAL_SITE + "node:\n  hostname: everywhere.example.org\n",
        "site",
        6,
        "node.hostname",
        "per-node parameter",
    ),
    (
        "unset-env",
        "origin:\n  host: ${CACHEMGR_TEST_UNSET_VAR}\n",
        None,
        "n1",
        4,
        "origin.host",
        "CACHEMGR_TEST_UNSET_VAR",
    ),
    ("name-mismatch", "node.name: other\n", None, "n1", 3, "node.name", "must match the file name"),
    ("files-partial", "cache:\n  files_baseline: 1t\n", None, "n1", 4, "cache.files_baseline", "together"),
    ("blocksize-odd", "cache:\n  blocksize: 100001\n", None, "n1", 4, "cache.blocksize", "multiple of 4k"),
    ("bad-hostname", "", None, "n1", 2, "node.hostname", "not a host name"),
    (
        "unknown-collector",
        "exporter:\n  disable: [cache_scan, processs]\n",
        None,
        "n1",
        4,
        "exporter.disable",
        "there is no collector processs",
    ),
    (
        "memory-below-ram",
        "cache:\n  ram: 32g\nk8s:\n  memory_limit: 16Gi\n",
        None,
        "n1",
        6,
        "k8s.memory_limit",
        "is below the 33792Mi the pod needs",
    ),
    (
        "memory-below-two-instances",
        "auth:\n  enabled: true\ncache:\n  ram: 8g\nk8s:\n  memory_limit: 16Gi\n",
        None,
        "n1",
        8,
        "k8s.memory_limit",
        "2 xrootd instance(s) with cache.ram and 512Mi each",
    ),
    # What kube-apiserver would refuse in the rendered objects, reported at the value that produced it.
    (
        "toleration-exists-with-value",
        "k8s:\n  tolerations:\n    - key: dedicated\n      operator: Exists\n      value: xcache\n",
        None,
        "n1",
        7,
        "k8s.tolerations[0].value",
        "value must be empty when `operator` is 'Exists'",
    ),
    (
        "toleration-without-key",
        "k8s:\n  tolerations:\n    - value: xcache\n",
        None,
        "n1",
        5,
        "k8s.tolerations[0].operator",
        "operator must be Exists when `key` is empty",
    ),
    (
        "toleration-seconds-not-noexecute",
        "k8s:\n  tolerations:\n    - key: a\n      operator: Exists\n      effect: NoSchedule\n"
        "      tolerationSeconds: 60\n",
        None,
        "n1",
        7,
        "k8s.tolerations[0].effect",
        "effect must be 'NoExecute' when `tolerationSeconds` is set",
    ),
    (
        "toleration-effect",
        "k8s:\n  tolerations: [{key: a, effect: NoScheduled}]\n",
        None,
        "n1",
        4,
        "k8s.tolerations[0].effect",
        'Unsupported value: "NoScheduled"',
    ),
    (
        "hostname-no-label-value",
        f"node:\n  hostname: {LONG_HOST}\n",
        None,
        "n1",
        2,
        "node.hostname",
        "must be no more than 63 characters (spec.template.spec.nodeSelector.kubernetes.io/hostname",
    ),
    (
        "cpu-request-above-limit",
        'k8s:\n  cpu_request: "16"\n',
        None,
        "n1",
        4,
        "k8s.cpu_request",
        "must be less than or equal to cpu limit of 8",
    ),
    (
        "memory-request-above-limit",
        "k8s:\n  memory_request: 20Gi\n",
        None,
        "n1",
        4,
        "k8s.memory_request",
        "must be less than or equal to memory limit of 16Gi",
    ),
    ("quantity-syntax", "k8s:\n  cpu_limit: 2 cores\n", None, "n1", 4, "k8s.cpu_limit", "not a Kubernetes quantity"),
    (
        "negative-quantity",
        'k8s:\n  cpu_request: "-1"\n',
        None,
        "n1",
        4,
        "k8s.cpu_request",
        "must be greater than or equal to 0",
    ),
    (
        "cadir-mounted-twice",
        "auth:\n  enabled: true\n  cadir: /etc/grid-security/host\n",
        None,
        "n1",
        5,
        "auth.cadir",
        "must be unique",
    ),
    (
        "secret-item-dotdot",
        "auth:\n  enabled: true\n  hostcert: /etc/grid-security/host/..cert.pem\n",
        None,
        "n1",
        5,
        "auth.hostcert",
        "must not start with '..'",
    ),
    (
        "affinity-in-without-values",
        "k8s:\n  affinity:\n    nodeAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n"
        "        nodeSelectorTerms:\n          - matchExpressions:\n              - key: disktype\n"
        "                operator: In\n",
        None,
        "n1",
        9,
        "k8s.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
        ".matchExpressions[0].values",
        "must be specified when `operator` is 'In' or 'NotIn'",
    ),
    (
        "affinity-unknown-field",
        "k8s:\n  affinity:\n    nodeAfinity: {}\n",
        None,
        "n1",
        5,
        "k8s.affinity.nodeAfinity",
        "unknown field",
    ),
    (
        "affinity-weight",
        "k8s:\n  affinity:\n    nodeAffinity:\n      preferredDuringSchedulingIgnoredDuringExecution:\n"
        "        - weight: 0\n          preference: {matchExpressions: [{key: disk, operator: Exists}]}\n",
        None,
        "n1",
        7,
        "k8s.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight",
        "must be in the range 1-100",
    ),
    (
        "configmap-over-1mib",
        f'xrootd:\n  extra:\n    - "{BIG_DIRECTIVE}"\n',
        None,
        "n1",
        4,
        "xrootd.extra",
        "Too long: must have at most 1048576 bytes",
    ),
]


@pytest.mark.parametrize(
    ("text", "site", "file", "line", "key", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_values(values, tmp_path, text, site, file, line, key, reason):
    head = NODE_HEAD.replace("n1.example.org", "n1_bad") if key == "node.hostname" and not site else NODE_HEAD
    vdir = values({"n1": text if text.startswith("node:") else head + text}, site)
    shown = f"{vdir}/nodes/n1.yaml" if file == "n1" else f"{vdir}/site.yaml"

    result = cachemgr("check", "--values", str(vdir))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert all(re.match(r"^\S+:\d+: \S+: .+", x) for x in lines), lines
    told = [x for x in lines if reason in x]
    assert len(told) == 1, lines  # told once (both ConfigMaps carry the same data)
    assert told[0].startswith(f"{shown}:{line}: {key}: "), lines  # where and why, on the same line

    out = tmp_path / "out"
    result = cachemgr("render", "--values", str(vdir), "--out", str(out))
    assert result.returncode == 2
    assert not out.exists(), "render wrote output for bad values"


def test_bad_values_never_replace_good_outputs(values, tmp_path):
    vdir = values({"n1": NODE_HEAD})
    out = tmp_path / "out"
    assert cachemgr("render", "--values", str(vdir), "--out", str(out)).returncode == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    (vdir / "nodes" / "n1.yaml").write_text(NODE_HEAD + "cache:\n  ram: lots\n")
    assert cachemgr("render", "--values", str(vdir), "--out", str(out)).returncode == 2
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_every_problem_of_every_node_is_reported(values):
    vdir = values({"n1": NODE_HEAD + "cache:\n  ram: 1x\n", "n2": NODE_HEAD + "ports:\n  xroot: 0\n"})
    result = cachemgr("check", "--values", str(vdir))
    assert result.returncode == 2
    assert "n1.yaml:4: cache.ram" in result.stderr and "n2.yaml:4: ports.xroot" in result.stderr
