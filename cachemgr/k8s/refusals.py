"""Run the API server's rules on a rendered node; report each refusal at the value that produced it.

A refused field is traced back by the first of these that applies:
1. fields a parameter renders into by position (resources, tolerations, affinity, nodeSelector, ...);
2. the parameter whose value the field holds (a hostPath is cache.data_disks[2], a mountPath the directory
   of auth.hostcert, a Secret item's path the name of auth.hostkey);
3. a free-form value (k8s.affinity), when the client's model refuses a field without saying where;
4. a ConfigMap over 1 MiB: the largest value set;
5. else the node file itself, naming the field (a template bug rather than a value).
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from typing import Any

from cachemgr.core.params import PARAMS
from cachemgr.k8s import rules
from cachemgr.k8s.objects import ApiObject, DecodeError, Path, Refusal, node_objects
from cachemgr.render.engine import RenderedNode, render_node
from cachemgr.values.load import Path_, Problem, ValuesError, dotted
from cachemgr.values.resolve import NodeValues

Located = tuple[str, Path_]  # a parameter, and a place inside its value
_RESOURCES = {("requests", "cpu"): "k8s.cpu_request", ("limits", "cpu"): "k8s.cpu_limit"}
_RESOURCES |= {("requests", "memory"): "k8s.memory_request", ("limits", "memory"): "k8s.memory_limit"}


def _by_position(path: Path) -> Located | None:
    """Fields one parameter renders into, wherever its value is."""
    if path[:2] == ("metadata", "namespace"):
        return "k8s.namespace", ()
    if any(p in ("labels", "matchLabels") for p in path) or path[:2] == ("metadata", "name"):
        return "node.name", ()  # the objects' names and labels derive from it
    pod = path[len(rules.POD) :] if path[: len(rules.POD)] == rules.POD else ()
    tail = pod[1:]
    match pod:
        case ("nodeSelector", *_):
            return "node.hostname", ()
        case ("terminationGracePeriodSeconds",):
            return "k8s.drain", ()
        case ("tolerations", *_):
            return "k8s.tolerations", tuple(tail)
        case ("affinity", *_):
            return "k8s.affinity", tuple(tail)
        case ("containers" | "initContainers", _, "image"):
            return "k8s.image", ()
        case ("containers", _, "resources", kind, name) if (kind, name) in _RESOURCES:
            return _RESOURCES[(kind, name)], ()
    return None


def _holding(node: NodeValues, value: Any) -> Located | None:
    """The parameter whose value (or an item of it) is value; else one whose path lies below value or ends in
    it (a mount of a file's directory, a Secret item named after the file)."""
    if isinstance(value, bool) or value in (None, ""):
        return None
    exact: list[Located] = []
    related: list[Located] = []
    for p in PARAMS:
        held = node[p.name]
        for loc, item in [((), held)] if not isinstance(held, list) else [((i,), x) for i, x in enumerate(held)]:
            if item == value:
                exact.append((p.name, loc))
            elif (
                isinstance(item, str)
                and isinstance(value, str)
                and value in (posixpath.dirname(item), posixpath.basename(item))
            ):
                related.append((p.name, loc))
    return (exact or related or [None])[0]


def _value_at(raw: Any, path: Path) -> Any:
    for part in path:
        try:
            raw = raw[part]
        except (KeyError, IndexError, TypeError):
            return None
    return raw


def _free_form(node: NodeValues, obj: ApiObject, refusal: Refusal) -> Located | None:
    """A value the client's model refused without saying where: only free-form values (mappings) can be."""
    if refusal.path:
        return None
    return next(((p.name, ()) for p in PARAMS if p.kind == "mapping" and p.name in node.entries), None)


def _largest_value(node: NodeValues, obj: ApiObject, refusal: Refusal) -> Located | None:
    if refusal.path != ("data",):
        return None
    sizes = {p.name: len(str(node[p.name])) for p in PARAMS if p.name in node.entries}
    return (max(sizes, key=sizes.__getitem__), ()) if sizes else None


_LOCATORS: tuple[Callable[[NodeValues, ApiObject, Refusal], Located | None], ...] = (
    lambda node, obj, r: _by_position(r.path),
    lambda node, obj, r: _holding(node, _value_at(obj.raw, r.path)),
    _free_form,
    _largest_value,
)


def _problem(node: NodeValues, obj: ApiObject, rule: str, refusal: Refusal) -> Problem:
    reason = f"{refusal.message} ({refusal.field} in {obj.source}; kube-apiserver's {rule})"
    for locate in _LOCATORS:
        found = locate(node, obj, refusal)
        if found:
            name, loc = found
            file, line = node.where(name, loc)
            return Problem(file, line, dotted(name, loc), reason)
    return Problem(node.file, 1, refusal.field, reason)


def refusals(node: NodeValues, rendered: RenderedNode) -> list[Problem]:
    """What kube-apiserver would refuse of the node's objects, as values problems (empty when none)."""
    try:
        objects = node_objects(rendered, node["k8s.namespace"])
    except DecodeError as e:  # only free-form values (k8s.affinity) can fail to decode: the rest is typed
        return [_problem(node, e.obj, "strict decoding", e.refusal)]
    # kubectl's and kustomize's ConfigMaps carry the same data: its rules run on the first one only, so that
    # a bad value is told once.
    problems: list[Problem] = []
    data_checked = False
    for obj in objects:
        skip = rules.CONFIGMAP_DATA if data_checked else frozenset()
        problems += [_problem(node, obj, r.source, refusal) for r, refusal in rules.refusals(obj) if r.name not in skip]
        data_checked = data_checked or obj.raw["kind"] == "ConfigMap"
    return problems


def render_accepted(nodes: list[NodeValues]) -> list[RenderedNode]:
    """Render every node; ValuesError with every refusal of every node (so nothing gets written)."""
    rendered = [render_node(n) for n in nodes]
    problems = [p for node, r in zip(nodes, rendered, strict=True) for p in refusals(node, r)]
    if problems:
        raise ValuesError(problems)
    return rendered
