"""Every object a rendered node sends to the API server, loaded into the kubernetes client's typed models.

The Deployment is k8s/<node>.yaml as rendered. The ConfigMap is what
`kubectl create configmap xcache-<node>-config --from-file=configmaps/<node>/` makes (one key per file), and
what kustomize's configMapGenerator makes of the same files (the generator's labels, and a name with a
10-character content hash appended; only its length matters to the rules). kustomize's copy of the
Deployment differs only in that ConfigMap name. The fleet's PodMonitor is a prometheus-operator CRD the
client has no model for.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pydantic
import yaml
from kubernetes.client import ApiClient

from cachemgr.render.engine import RenderedNode
from cachemgr.values.load import Path_ as Path
from cachemgr.values.load import dotted

KUSTOMIZE_HASH = "-" + "h" * 10  # stands in for kustomize's 10-character content hash
_CLIENT = ApiClient()


@dataclass(frozen=True)
class Refusal:
    """One reason the API server would refuse an object: the field (a JSON path) and why."""

    path: Path
    message: str

    @property
    def field(self) -> str:
        return dotted(str(self.path[0]), self.path[1:]) if self.path else ""


@dataclass(frozen=True)
class ApiObject:
    source: str  # what the admin applies: k8s/<node>.yaml, or the ConfigMap made by kubectl or kustomize
    raw: dict[str, Any]  # as sent
    model: Any  # the client's V1Deployment, V1ConfigMap, ...


class DecodeError(Exception):
    """The object does not decode into the client's model: a wrong type, or a field the API does not have."""

    def __init__(self, obj: ApiObject, refusal: Refusal):
        super().__init__(refusal.message)
        self.obj = obj  # without a model
        self.refusal = refusal


def load_object(raw: dict[str, Any], source: str) -> ApiObject:
    """Decode raw with the client's own deserializer, as `kubectl apply --validate=strict` has the server do."""
    try:
        model = _CLIENT.deserialize(json.dumps(raw), f"V1{raw['kind']}", "application/json")
    except pydantic.ValidationError as e:
        error = e.errors()[0]
        field = str(error["loc"][-1]) if error["loc"] else ""
        path = _find(raw, field, error["input"]) or ()
        raise DecodeError(ApiObject(source, raw, None), Refusal(path, f"{e.title}.{field}: {error['msg']}")) from None
    unknown = _first_difference(raw, _CLIENT.sanitize_for_serialization(model))
    if unknown is not None:
        raise DecodeError(ApiObject(source, raw, None), Refusal(unknown, "unknown field (strict decoding)"))
    return ApiObject(source, raw, model)


def _find(node: Any, key: str, value: Any, at: Path = ()) -> Path | None:
    """The path of the first `key: value` in node: where the client's error (it names no path) comes from."""
    if isinstance(node, dict):
        if key in node and node[key] == value:
            return (*at, key)
        items: Iterator[tuple[str | int, Any]] = iter(node.items())
    elif isinstance(node, list):
        items = enumerate(node)
    else:
        return None
    for k, child in items:
        found = _find(child, key, value, (*at, k))
        if found:
            return found
    return None


def _first_difference(sent: Any, decoded: Any, at: Path = ()) -> Path | None:
    """The first field of sent the model dropped (the client ignores fields it does not know)."""
    if isinstance(sent, dict) and isinstance(decoded, dict):
        for key, value in sent.items():
            if key not in decoded:
                if value is None:  # an explicit null is no field
                    continue
                return (*at, key)
            found = _first_difference(value, decoded[key], (*at, key))
            if found:
                return found
    elif isinstance(sent, list) and isinstance(decoded, list):
        for i, (a, b) in enumerate(zip(sent, decoded, strict=False)):
            found = _first_difference(a, b, (*at, i))
            if found:
                return found
    return None


def node_objects(rendered: RenderedNode, namespace: str) -> list[ApiObject]:
    """The node's objects as `kubectl apply -f` and `kubectl apply -k` send them."""
    # libyaml's safe loader: pure Python's took 8 of the 10 s of `cachemgr render` for 1000 nodes.
    deployment = yaml.load(rendered.deployment, Loader=yaml.CSafeLoader)
    kustomization = yaml.load(rendered.kustomization, Loader=yaml.CSafeLoader)
    (generator,) = kustomization["configMapGenerator"]
    by_kubectl = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": generator["name"], "namespace": namespace},
        "data": rendered.configmap,
    }
    by_kustomize = {
        **by_kubectl,
        "metadata": {
            "name": generator["name"] + KUSTOMIZE_HASH,
            "namespace": kustomization["namespace"],
            "labels": generator["options"]["labels"],
        },
    }
    return [
        load_object(deployment, f"k8s/{rendered.name}.yaml"),
        load_object(by_kubectl, "the ConfigMap of `kubectl create configmap`"),
        load_object(by_kustomize, f"the ConfigMap of k8s/kustomize/{rendered.name}/"),
    ]
