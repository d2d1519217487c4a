"""The API server's validation rules for every field cachemgr renders, one small function each.

Each rule reads an object decoded into the kubernetes client's models (objects.py) and yields a Refusal
(the field's JSON path and the API server's reason). RULES lists them with the Kubernetes function each one
follows: pkg/apis/core/validation/validation.go and pkg/apis/apps/validation/validation.go in
kubernetes/kubernetes, and apimachinery's objectmeta.go and validation.go (see names.py). Written from
reading those functions, for the fields cachemgr sets; defaults the API server applies first
(pkg/apis/core/v1/defaults.go) are applied here where a rule depends on them.

Not an API server rule, so not here: that mountPath is absolute (the server only requires it non-empty
and unique; the container runtime refuses a relative one, and values already require absolute paths).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from cachemgr.core import quantity
from cachemgr.k8s import names
from cachemgr.k8s.objects import ApiObject, Path, Refusal

Check = Callable[[Any], Iterator[Refusal]]

MAX_ANNOTATIONS = 256 << 10  # apimachinery objectmeta.go TotalAnnotationSizeLimitB
MAX_CONFIGMAP = 1 << 20  # core.MaxSecretSize, the limit ValidateConfigMap uses
MAX_FILE_MODE = 0o777
HOSTPATH_TYPES = {"", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice"}
TAINT_EFFECTS = {"NoSchedule", "PreferNoSchedule", "NoExecute"}
PORT_PROTOCOLS = {"TCP", "UDP", "SCTP"}
DNS_POLICIES = {"ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"}
NODE_SELECTOR_OPERATORS = frozenset({"In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"})
LABEL_SELECTOR_OPERATORS = frozenset({"In", "NotIn", "Exists", "DoesNotExist"})
POD_TEMPLATE: Path = ("spec", "template")
POD: Path = (*POD_TEMPLATE, "spec")


@dataclass(frozen=True)
class Rule:
    name: str
    kinds: frozenset[str]
    source: str  # the Kubernetes function(s) the rule follows
    check: Check


def _api(model: Any, attr: str) -> str:
    """The API's name of a model attribute (node_selector -> nodeSelector)."""
    return type(model).model_fields[attr].alias or attr


def _each(errors: list[str], path: Path) -> Iterator[Refusal]:
    for error in errors:
        yield Refusal(path, error)


# --- object metadata (every kind) -----------------------------------------------------------------------


def object_names(obj: Any) -> Iterator[Refusal]:
    yield from _each(names.dns1123_subdomain(obj.metadata.name or ""), ("metadata", "name"))
    if obj.metadata.namespace is not None:  # else the request's namespace
        yield from _each(names.dns1123_label(obj.metadata.namespace), ("metadata", "namespace"))


def _label_maps(obj: Any) -> Iterator[tuple[Path, dict[str, str]]]:
    yield ("metadata", "labels"), obj.metadata.labels or {}
    if obj.kind == "Deployment":
        yield (*POD_TEMPLATE, "metadata", "labels"), obj.spec.template.metadata.labels or {}
        yield ("spec", "selector", "matchLabels"), obj.spec.selector.match_labels or {}
        yield (*POD, "nodeSelector"), obj.spec.template.spec.node_selector or {}


def labels(obj: Any) -> Iterator[Refusal]:
    for path, mapping in _label_maps(obj):
        for key, value in mapping.items():
            yield from _each(names.qualified_name(key), (*path, key))
            yield from _each(names.label_value(value), (*path, key))


def _annotation_maps(obj: Any) -> Iterator[tuple[Path, dict[str, str]]]:
    yield ("metadata", "annotations"), obj.metadata.annotations or {}
    if obj.kind == "Deployment":
        yield (*POD_TEMPLATE, "metadata", "annotations"), obj.spec.template.metadata.annotations or {}


def annotations(obj: Any) -> Iterator[Refusal]:
    for path, mapping in _annotation_maps(obj):
        for key in mapping:
            yield from _each(names.qualified_name(key.lower()), (*path, key))
        size = sum(len(k.encode()) + len(v.encode()) for k, v in mapping.items())
        if size > MAX_ANNOTATIONS:
            yield Refusal(path, f"Too long: must have at most {MAX_ANNOTATIONS} bytes (has {size})")


# --- Deployment ----------------------------------------------------------------------------------------


def selector_matches_template(dep: Any) -> Iterator[Refusal]:
    selector = dep.spec.selector.match_labels or {}
    if not selector and not dep.spec.selector.match_expressions:
        yield Refusal(("spec", "selector"), "empty selector is invalid for deployment")
    template = dep.spec.template.metadata.labels or {}
    if any(template.get(k) != v for k, v in selector.items()):
        yield Refusal((*POD_TEMPLATE, "metadata", "labels"), "`selector` does not match template `labels`")


def strategy(dep: Any) -> Iterator[Refusal]:
    kind = dep.spec.strategy.type if dep.spec.strategy else "RollingUpdate"
    if kind == "Recreate" and dep.spec.strategy.rolling_update is not None:
        yield Refusal(("spec", "strategy", "rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'")
    elif kind not in ("Recreate", "RollingUpdate"):
        yield Refusal(("spec", "strategy", "type"), f'Unsupported value: "{kind}"')


def replicas(dep: Any) -> Iterator[Refusal]:
    if (dep.spec.replicas or 0) < 0:
        yield Refusal(("spec", "replicas"), "must be greater than or equal to 0")


def restart_policy(dep: Any) -> Iterator[Refusal]:
    policy = dep.spec.template.spec.restart_policy
    if policy not in (None, "Always"):
        yield Refusal((*POD, "restartPolicy"), f'Unsupported value: "{policy}": supported values: "Always"')


def dns_policy(dep: Any) -> Iterator[Refusal]:
    policy = dep.spec.template.spec.dns_policy
    if policy is not None and policy not in DNS_POLICIES:
        yield Refusal((*POD, "dnsPolicy"), f'Unsupported value: "{policy}"')


# --- pod scheduling --------------------------------------------------------------------------------------


def tolerations(dep: Any) -> Iterator[Refusal]:
    for i, t in enumerate(dep.spec.template.spec.tolerations or []):
        at = (*POD, "tolerations", i)
        if t.key:
            yield from _each(names.qualified_name(t.key), (*at, "key"))
        operator = t.operator or "Equal"  # an empty operator means Equal
        if not t.key and operator != "Exists":
            yield Refusal((*at, "operator"), "operator must be Exists when `key` is empty")
        if t.toleration_seconds is not None and t.effect != "NoExecute":
            yield Refusal((*at, "effect"), "effect must be 'NoExecute' when `tolerationSeconds` is set")
        if operator == "Equal":
            yield from _each(names.label_value(t.value or ""), (*at, "value"))
        elif operator == "Exists" and t.value:
            yield Refusal((*at, "value"), "value must be empty when `operator` is 'Exists'")
        elif operator != "Exists":
            yield Refusal((*at, "operator"), f'Unsupported value: "{operator}": supported values: "Equal", "Exists"')
        if t.effect and t.effect not in TAINT_EFFECTS:
            yield Refusal((*at, "effect"), f'Unsupported value: "{t.effect}"')


def _selector_requirement(req: Any, at: Path, operators: frozenset[str]) -> Iterator[Refusal]:
    """A matchExpressions entry, of a node selector or of a label selector (which has no Gt or Lt)."""
    values = req.values or []
    if req.operator not in operators:
        yield Refusal((*at, "operator"), f'not a valid selector operator "{req.operator}"')
    elif req.operator in ("In", "NotIn") and not values:
        yield Refusal((*at, "values"), "must be specified when `operator` is 'In' or 'NotIn'")
    elif req.operator in ("Exists", "DoesNotExist") and values:
        yield Refusal((*at, "values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")
    elif req.operator in ("Gt", "Lt") and len(values) != 1:
        yield Refusal((*at, "values"), "must be specified single value when `operator` is 'Lt' or 'Gt'")
    yield from _each(names.qualified_name(req.key), (*at, "key"))


def _node_selector_term(term: Any, at: Path) -> Iterator[Refusal]:
    for j, req in enumerate(term.match_expressions or []):
        yield from _selector_requirement(req, (*at, "matchExpressions", j), NODE_SELECTOR_OPERATORS)


def _label_selector(selector: Any, at: Path) -> Iterator[Refusal]:
    if selector is None:
        return
    for key, value in (selector.match_labels or {}).items():
        yield from _each(names.qualified_name(key) + names.label_value(value), (*at, "matchLabels", key))
    for j, req in enumerate(selector.match_expressions or []):
        yield from _selector_requirement(req, (*at, "matchExpressions", j), LABEL_SELECTOR_OPERATORS)


def _weight(weight: int, at: Path) -> Iterator[Refusal]:
    if not 1 <= weight <= 100:
        yield Refusal((*at, "weight"), "must be in the range 1-100")


def _pod_affinity_term(term: Any, at: Path) -> Iterator[Refusal]:
    yield from _label_selector(term.label_selector, (*at, "labelSelector"))
    if not term.topology_key:
        yield Refusal((*at, "topologyKey"), "can not be empty")
    else:
        yield from _each(names.qualified_name(term.topology_key), (*at, "topologyKey"))


def _pod_affinity(affinity: Any, at: Path) -> Iterator[Refusal]:
    if affinity is None:
        return
    for j, term in enumerate(affinity.required_during_scheduling_ignored_during_execution or []):
        yield from _pod_affinity_term(term, (*at, "requiredDuringSchedulingIgnoredDuringExecution", j))
    for j, weighted in enumerate(affinity.preferred_during_scheduling_ignored_during_execution or []):
        here = (*at, "preferredDuringSchedulingIgnoredDuringExecution", j)
        yield from _weight(weighted.weight, here)
        yield from _pod_affinity_term(weighted.pod_affinity_term, (*here, "podAffinityTerm"))


def affinity(dep: Any) -> Iterator[Refusal]:
    aff = dep.spec.template.spec.affinity
    if aff is None:
        return
    at = (*POD, "affinity")
    node = aff.node_affinity
    if node is not None:
        here = (*at, "nodeAffinity")
        required = node.required_during_scheduling_ignored_during_execution
        if required is not None:
            terms_at = (*here, "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
            if not required.node_selector_terms:
                yield Refusal(terms_at, "must have at least one node selector term")
            for j, term in enumerate(required.node_selector_terms or []):
                yield from _node_selector_term(term, (*terms_at, j))
        for j, pref in enumerate(node.preferred_during_scheduling_ignored_during_execution or []):
            pref_at = (*here, "preferredDuringSchedulingIgnoredDuringExecution", j)
            yield from _weight(pref.weight, pref_at)
            yield from _node_selector_term(pref.preference, (*pref_at, "preference"))
    yield from _pod_affinity(aff.pod_affinity, (*at, "podAffinity"))
    yield from _pod_affinity(aff.pod_anti_affinity, (*at, "podAntiAffinity"))


# --- containers -------------------------------------------------------------------------------------------


def _containers(dep: Any) -> Iterator[tuple[Path, Any]]:
    spec = dep.spec.template.spec
    for i, c in enumerate(spec.init_containers or []):
        yield (*POD, "initContainers", i), c
    for i, c in enumerate(spec.containers or []):
        yield (*POD, "containers", i), c


def containers(dep: Any) -> Iterator[Refusal]:
    if not dep.spec.template.spec.containers:
        yield Refusal((*POD, "containers"), "Required value")
    seen: set[str] = set()
    for at, c in _containers(dep):
        yield from _each(names.dns1123_label(c.name), (*at, "name"))
        if c.name in seen:  # unique across init and regular containers
            yield Refusal((*at, "name"), f'Duplicate value: "{c.name}"')
        seen.add(c.name)
        if not c.image:
            yield Refusal((*at, "image"), "Required value")


def ports(dep: Any) -> Iterator[Refusal]:
    host_network = bool(dep.spec.template.spec.host_network)
    host_ports: set[tuple[str, int]] = set()
    for at, c in _containers(dep):
        named: set[str] = set()
        for j, port in enumerate(c.ports or []):
            here = (*at, "ports", j)
            if port.name:
                yield from _each(names.port_name(port.name), (*here, "name"))
                if port.name in named:
                    yield Refusal((*here, "name"), f'Duplicate value: "{port.name}"')
                named.add(port.name)
            if not 1 <= port.container_port <= 65535:
                yield Refusal((*here, "containerPort"), "must be between 1 and 65535, inclusive")
            protocol = port.protocol or "TCP"  # defaulted
            if protocol not in PORT_PROTOCOLS:
                yield Refusal((*here, "protocol"), f'Unsupported value: "{protocol}"')
            host_port = port.host_port or (port.container_port if host_network else 0)  # defaulted
            if host_network and port.host_port and port.host_port != port.container_port:
                yield Refusal((*here, "hostPort"), "must match `containerPort` when `hostNetwork` is true")
            if host_port and (protocol, host_port) in host_ports:
                yield Refusal((*here, "hostPort"), f'Duplicate value: "{protocol}//{host_port}"')
            host_ports.add((protocol, host_port))


def resources(dep: Any) -> Iterator[Refusal]:
    for at, c in _containers(dep):
        if c.resources is None:
            continue
        here = (*at, "resources")
        parsed: dict[str, dict[str, Any]] = {}
        for kind in ("limits", "requests"):
            for name, text in (getattr(c.resources, kind) or {}).items():
                where = (*here, kind, name)
                if name not in ("cpu", "memory", "ephemeral-storage") and "/" not in name:
                    yield Refusal(where, "must be a standard resource for containers")
                try:
                    value = quantity.parse(str(text))
                except ValueError as e:
                    yield Refusal(where, str(e))
                    continue
                if value < 0:
                    yield Refusal(where, "must be greater than or equal to 0")
                parsed.setdefault(kind, {})[name] = value
        for name, request in parsed.get("requests", {}).items():
            limit = parsed.get("limits", {}).get(name)
            if limit is not None and request > limit:
                yield Refusal(
                    (*here, "requests", name),
                    f"must be less than or equal to {name} limit of {c.resources.limits[name]}",
                )


def _handlers(probe: Any) -> list[str]:
    return [_api(probe, a) for a in ("var_exec", "http_get", "tcp_socket", "grpc") if getattr(probe, a) is not None]


def _probe(probe: Any, at: Path, success_must_be_one: bool) -> Iterator[Refusal]:
    handlers = _handlers(probe)
    if not handlers:
        yield Refusal(at, "must specify a handler type")
    for extra in handlers[1:]:
        yield Refusal((*at, extra), "may not specify more than 1 handler type")
    if probe.var_exec is not None and not probe.var_exec.command:
        yield Refusal((*at, "exec", "command"), "Required value")
    for attr in (
        "initial_delay_seconds",
        "timeout_seconds",
        "period_seconds",
        "success_threshold",
        "failure_threshold",
    ):
        if (getattr(probe, attr) or 0) < 0:
            yield Refusal((*at, _api(probe, attr)), "must be greater than or equal to 0")
    if success_must_be_one and (probe.success_threshold or 1) != 1:  # 0 is defaulted to 1
        yield Refusal((*at, "successThreshold"), "must be 1")


def probes(dep: Any) -> Iterator[Refusal]:
    for at, c in _containers(dep):
        init = at[len(POD)] == "initContainers" and c.restart_policy != "Always"
        for attr, must_be_one in (("liveness_probe", True), ("readiness_probe", False), ("startup_probe", True)):
            probe = getattr(c, attr)
            if probe is None:
                continue
            where = (*at, _api(c, attr))
            if init:
                yield Refusal(where, "may not be set for init containers without restartPolicy=Always")
            else:
                yield from _probe(probe, where, must_be_one)


def security_context(dep: Any) -> Iterator[Refusal]:
    for at, c in _containers(dep):
        sc = c.security_context
        if sc is None:
            continue
        if sc.allow_privilege_escalation is False and sc.privileged:
            yield Refusal(
                (*at, "securityContext"), "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"
            )
        if sc.run_as_user is not None and not 0 <= sc.run_as_user <= 0xFFFFFFFF:
            yield Refusal((*at, "securityContext", "runAsUser"), "must be between 0 and 4294967295, inclusive")


# --- volumes -------------------------------------------------------------------------------------------------


def _mode(mode: int | None, at: Path) -> Iterator[Refusal]:
    if mode is not None and not 0 <= mode <= MAX_FILE_MODE:
        yield Refusal(at, "must be a number between 0 and 0777 (octal), both inclusive")


def _local_path(path: str, at: Path) -> Iterator[Refusal]:
    if not path:
        yield Refusal(at, "Required value")
    if path.startswith("/"):
        yield Refusal(at, "must be a relative path")
    if ".." in path.split("/"):
        yield Refusal(at, "must not contain '..'")
    elif path.startswith(".."):
        yield Refusal(at, "must not start with '..'")


def _key_to_paths(items: list[Any] | None, at: Path) -> Iterator[Refusal]:
    for k, item in enumerate(items or []):
        here = (*at, "items", k)
        if not item.key:
            yield Refusal((*here, "key"), "Required value")
        yield from _local_path(item.path, (*here, "path"))
        yield from _mode(item.mode, (*here, "mode"))


def _volume_source(vol: Any, at: Path) -> Iterator[Refusal]:
    sources = [a for a in type(vol).model_fields if a != "name" and getattr(vol, a) is not None]
    if not sources:
        yield Refusal(at, "must specify a volume type")
    for extra in sources[1:]:
        yield Refusal((*at, _api(vol, extra)), "may not specify more than 1 volume type")
    if vol.host_path is not None:
        if not vol.host_path.path:
            yield Refusal((*at, "hostPath", "path"), "Required value")
        elif ".." in vol.host_path.path.split("/"):
            yield Refusal((*at, "hostPath", "path"), "must not contain '..'")
        if (vol.host_path.type or "") not in HOSTPATH_TYPES:
            yield Refusal((*at, "hostPath", "type"), f'Unsupported value: "{vol.host_path.type}"')
    if vol.secret is not None:
        if not vol.secret.secret_name:
            yield Refusal((*at, "secret", "secretName"), "Required value")
        yield from _mode(vol.secret.default_mode, (*at, "secret", "defaultMode"))
        yield from _key_to_paths(vol.secret.items, (*at, "secret"))
    if vol.config_map is not None:
        if not vol.config_map.name:
            yield Refusal((*at, "configMap", "name"), "Required value")
        yield from _mode(vol.config_map.default_mode, (*at, "configMap", "defaultMode"))
        yield from _key_to_paths(vol.config_map.items, (*at, "configMap"))


def volumes(dep: Any) -> Iterator[Refusal]:
    seen: set[str] = set()
    for j, vol in enumerate(dep.spec.template.spec.volumes or []):
        at = (*POD, "volumes", j)
        yield from _each(names.dns1123_label(vol.name), (*at, "name"))
        if vol.name in seen:
            yield Refusal((*at, "name"), f'Duplicate value: "{vol.name}"')
        seen.add(vol.name)
        yield from _volume_source(vol, at)


def volume_mounts(dep: Any) -> Iterator[Refusal]:
    volume_names = {v.name for v in dep.spec.template.spec.volumes or []}
    for at, c in _containers(dep):
        mount_paths: set[str] = set()
        for j, mount in enumerate(c.volume_mounts or []):
            here = (*at, "volumeMounts", j)
            if mount.name not in volume_names:
                yield Refusal((*here, "name"), f'Not found: "{mount.name}"')
            if not mount.mount_path:
                yield Refusal((*here, "mountPath"), "Required value")
            elif mount.mount_path in mount_paths:
                yield Refusal((*here, "mountPath"), f'Invalid value: "{mount.mount_path}": must be unique')
            mount_paths.add(mount.mount_path)
            if mount.sub_path:
                yield from _local_path(mount.sub_path, (*here, "subPath"))


# --- ConfigMap -------------------------------------------------------------------------------------------------


def configmap_keys(cm: Any) -> Iterator[Refusal]:
    for key in cm.data or {}:
        yield from _each(names.configmap_key(key), ("data", key))


def configmap_size(cm: Any) -> Iterator[Refusal]:
    size = sum(len(text.encode()) for text in (cm.data or {}).values())
    if size > MAX_CONFIGMAP:
        yield Refusal(("data",), f"Too long: must have at most {MAX_CONFIGMAP} bytes (has {size})")


# The rules on a ConfigMap's data: run on one copy only when two ConfigMaps carry the same data.
CONFIGMAP_DATA = frozenset({"configmap keys", "configmap size"})
_ALL = frozenset({"Deployment", "ConfigMap"})
_DEPLOYMENT = frozenset({"Deployment"})
_CONFIGMAP = frozenset({"ConfigMap"})
# Each rule names the functions it follows: in kubernetes/kubernetes pkg/apis/core/validation/validation.go,
# except ValidateDeployment* and ValidatePodTemplateSpecForReplicaSet (pkg/apis/apps/validation/validation.go),
# ValidateObjectMeta*, ValidateAnnotations* and ValidateLabels (apimachinery pkg/api/validation/objectmeta.go,
# pkg/apis/meta/v1/validation) and ParseQuantity (apimachinery pkg/api/resource/quantity.go).
RULES: tuple[Rule, ...] = (
    Rule("object names", _ALL, "ValidateObjectMetaAccessor, ValidateDeploymentName", object_names),
    Rule("labels", _ALL, "ValidateLabels, ValidatePodSpec (nodeSelector)", labels),
    Rule("annotations", _ALL, "ValidateAnnotations, ValidateAnnotationsSize", annotations),
    Rule(
        "selector",
        _DEPLOYMENT,
        "ValidateDeploymentSpec, ValidatePodTemplateSpecForReplicaSet",
        selector_matches_template,
    ),
    Rule("strategy", _DEPLOYMENT, "ValidateDeploymentStrategy", strategy),
    Rule("replicas", _DEPLOYMENT, "ValidateDeploymentSpec", replicas),
    Rule("restart policy", _DEPLOYMENT, "ValidatePodTemplateSpecForReplicaSet", restart_policy),
    Rule("dns policy", _DEPLOYMENT, "validateDNSPolicy", dns_policy),
    Rule("tolerations", _DEPLOYMENT, "ValidateTolerations, validateTaintEffect", tolerations),
    Rule(
        "affinity", _DEPLOYMENT, "validateAffinity, ValidateNodeSelectorRequirement, validatePodAffinityTerm", affinity
    ),
    Rule("containers", _DEPLOYMENT, "validateContainers, validateInitContainers, validateContainerCommon", containers),
    Rule("ports", _DEPLOYMENT, "validateContainerPorts, validatePodHostNetworkDeps, checkHostPortConflicts", ports),
    Rule(
        "resources",
        _DEPLOYMENT,
        "validateResourceRequirements, ValidateResourceQuantityValue, ParseQuantity",
        resources,
    ),
    Rule("probes", _DEPLOYMENT, "validateProbe, validateHandler, validateLivenessProbe, validateStartupProbe", probes),
    Rule("security context", _DEPLOYMENT, "ValidateSecurityContext", security_context),
    Rule("volumes", _DEPLOYMENT, "ValidateVolumes, validateHostPathVolumeSource, validateSecretVolumeSource", volumes),
    Rule("volume mounts", _DEPLOYMENT, "ValidateVolumeMounts", volume_mounts),
    Rule("configmap keys", _CONFIGMAP, "ValidateConfigMap, IsConfigMapKey", configmap_keys),
    Rule("configmap size", _CONFIGMAP, "ValidateConfigMap (core.MaxSecretSize)", configmap_size),
)


def refusals(obj: ApiObject) -> Iterator[tuple[Rule, Refusal]]:
    """Every reason the API server would refuse obj, with the rule that finds it."""
    for rule in RULES:
        if obj.raw["kind"] in rule.kinds:
            for refusal in rule.check(obj.model):
                yield rule, refusal
