"""A site's nodes as render takes them: each node's values validated (values/), checked against what only the
layers above the values know (the exporter's collectors), with its schedules from the site's cron/ (scheduler/)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from cachemgr.scheduler import schedules
from cachemgr.values.load import Problem, ValuesError
from cachemgr.values.resolve import NodeValues, load_site, node_files, resolve
from cachemgr.values.rules import Blame


def known_collectors(v: dict[str, Any], blame: Blame) -> list[Problem]:
    """exporter.disable names collectors that exist."""
    if not v["exporter.disable"]:
        return []
    from cachemgr.stats.registry import COLLECTORS, unknown  # not for every render: it imports every collector

    file, line = blame["exporter.disable"]
    there = ", ".join(COLLECTORS)
    return [
        Problem(file, line, "exporter.disable", f"there is no collector {name} (there are: {there})")
        for name in unknown(v["exporter.disable"])
    ]


def load_nodes(
    values_dir: Path,
    names: list[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    cron_dir: Path | None = None,
) -> list[NodeValues]:
    """All requested nodes, validated, each with its schedules from cron_dir (default: cron/ beside
    values_dir); problems of every node and of cron/ are reported together."""
    problems: list[Problem] = []
    try:
        site = load_site(values_dir)
    except ValuesError as e:
        site, problems = {}, list(e.problems)
    try:
        cron = schedules.load_dir(cron_dir or schedules.default_dir(values_dir))
    except ValuesError as e:
        cron = []
        problems.extend(e.problems)
    nodes: list[NodeValues] = []
    for path in node_files(values_dir, names):
        try:
            node = resolve(site, path, overrides, env, checks=(known_collectors,))
            nodes.append(replace(node, schedules=schedules.for_node(cron, node)))
        except ValuesError as e:
            problems.extend(e.problems)
    if problems:
        raise ValuesError(problems)
    return nodes
