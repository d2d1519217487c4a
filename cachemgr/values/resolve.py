"""Turn site + node files into validated, typed values for one node (or a clear list of problems)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import expandvars
from pydantic import TypeAdapter, ValidationError

from cachemgr.core.params import BY_NAME, PARAMS
from cachemgr.values.load import Entry, Path_, Problem, ValuesError, dotted, flatten, read_yaml, shown_path
from cachemgr.values.rules import Blame, cross_checks
from cachemgr.values.types import KINDS

# A check a caller adds to the cross-checks: what only the layers above the values know (the collectors' names).
Check = Callable[[dict[str, Any], Blame], list[Problem]]

# Names of files and directories that render writes beside the node manifests in k8s/.
RESERVED_NODE_NAMES = {"site", "nodes", "kustomize", "fleet"}


@dataclass(frozen=True)
class NodeValues:
    name: str
    file: str
    flat: dict[str, Any]
    sources: dict[str, tuple[str, int]]  # parameter -> (file, line) it was set at; node file, line 1 for defaults
    entries: dict[str, Entry] = field(default_factory=dict)  # parameters set in a file, with their items' lines
    # The site's cron/ with the node's own schedules: its crontab's tasks (scheduler.crontab.CronEntry, attached by
    # render/site.py: the values know no tasks).
    schedules: tuple[Any, ...] = ()

    def __getitem__(self, name: str) -> Any:
        return self.flat[name]

    def where(self, name: str, loc: Path_ = ()) -> tuple[str, int]:
        """File and line of a parameter, or of a place inside its value (k8s.tolerations, (0, "value"))."""
        entry = self.entries.get(name)
        return (entry.file, entry.line_of(loc)) if entry else self.sources[name]

    def tree(self) -> dict[str, Any]:
        """Nested form for templates: v.cache.ram."""
        root: dict[str, Any] = {}
        for name, value in self.flat.items():
            *parents, leaf = name.split(".")
            node = root
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = value
        return root


def lists_dns(v: NodeValues) -> bool:
    """Whether a protected namespace lists its readers' DNs: the node then renders a grid-mapfile.local."""
    return any(ns.dns for ns in v["namespaces.protected"])


@cache
def _adapter(kind: str) -> TypeAdapter:
    return TypeAdapter(KINDS[kind])


def _expand(raw: Any, env: Mapping[str, str]) -> Any:
    if isinstance(raw, str) and "$" in raw:
        return expandvars.expand(raw, nounset=True, environ=env)
    if isinstance(raw, list):
        return [_expand(x, env) for x in raw]
    if isinstance(raw, dict):
        return {k: _expand(x, env) for k, x in raw.items()}
    return raw


def _reason(err: dict) -> str:
    msg = err["msg"]
    return msg.removeprefix("Value error, ")


def read_layer(path: Path, scope_ok: set[str]) -> tuple[dict[str, Entry], list[Problem]]:
    shown = shown_path(path)
    data, lines = read_yaml(path, shown)
    entries, problems = flatten(data, lines, shown)
    for name, entry in entries.items():
        if BY_NAME[name].scope not in scope_ok:
            problems.append(Problem(shown, entry.line, name, "is a per-node parameter: set it in the node file"))
    return entries, problems


def resolve(
    site: dict[str, Entry],
    node_file: Path,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    checks: Sequence[Check] = (),
) -> NodeValues:
    """Validate one node; raises ValuesError listing every problem found."""
    env = os.environ if env is None else env
    shown = shown_path(node_file)
    problems: list[Problem] = []
    try:
        node, problems = read_layer(node_file, {"site", "node"})
    except ValuesError as e:
        raise ValuesError(e.problems) from None
    merged: dict[str, Entry] = {**site, **node}
    for name, raw in (overrides or {}).items():
        merged[name] = Entry(raw, "<override>", 0)
    merged.setdefault("node.name", Entry(node_file.stem, shown, 1))

    flat: dict[str, Any] = {}
    blame: dict[str, tuple[str, int]] = {}
    for p in PARAMS:
        entry = merged.get(p.name)
        if entry is None:
            blame[p.name] = (shown, 1)
            if p.required:
                problems.append(Problem(shown, 1, p.name, "is required: set it in the node file or site.yaml"))
                continue
            raw = p.default
        else:
            blame[p.name] = (entry.file, entry.line)
            try:
                raw = _expand(entry.raw, env)
            except expandvars.ExpandvarsException as e:
                problems.append(Problem(entry.file, entry.line, p.name, str(e)))
                continue
        try:
            flat[p.name] = _adapter(p.kind).validate_python(raw)
        except ValidationError as e:
            for err in e.errors():
                line = entry.line_of(err["loc"]) if entry else 1
                file = entry.file if entry else "(default)"
                problems.append(Problem(file, line, dotted(p.name, err["loc"]), _reason(err)))

    if "node.name" in flat:
        if flat["node.name"] != node_file.stem:
            f, line = blame["node.name"]
            problems.append(
                Problem(f, line, "node.name", f'"{flat["node.name"]}" must match the file name "{node_file.stem}"')
            )
        elif flat["node.name"] in RESERVED_NODE_NAMES:
            problems.append(Problem(shown, 1, "node.name", f'"{flat["node.name"]}" is reserved; rename the file'))
    if not problems:
        problems = cross_checks(flat, blame) + [p for check in checks for p in check(flat, blame)]
    if problems:
        raise ValuesError(problems)
    return NodeValues(flat["node.name"], shown, flat, blame, merged)


def load_site(values_dir: Path) -> dict[str, Entry]:
    site_file = values_dir / "site.yaml"
    if not site_file.exists():
        return {}
    entries, problems = read_layer(site_file, {"site"})
    if problems:
        raise ValuesError(problems)
    return entries


def node_files(values_dir: Path, names: list[str] | None = None) -> list[Path]:
    nodes_dir = values_dir / "nodes"
    available = {p.stem: p for p in sorted(nodes_dir.glob("*.yaml"))}
    if not names:
        if not available:
            raise ValuesError([Problem(shown_path(nodes_dir), 0, "nodes", "no node files (nodes/<node>.yaml)")])
        return list(available.values())
    missing = [n for n in names if n not in available]
    if missing:
        missed = [shown_path(nodes_dir / f"{n}.yaml") for n in missing]
        raise ValuesError([Problem(file, 0, "node", "no such node file") for file in missed])
    return [available[n] for n in names]
