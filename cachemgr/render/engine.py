"""Render one node's values into its ConfigMap files and Kubernetes manifest, in memory."""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
import yaml
from pydantic import BaseModel

from cachemgr.core.pod import CONFIGMAP_MOUNT, RUNTIME_JSON, Auth, Instance, RunDir, Runtime, Selftest
from cachemgr.core.units import format_size
from cachemgr.scheduler import schedules
from cachemgr.stats import settings as exporter_settings
from cachemgr.values.derive import derive
from cachemgr.values.resolve import NodeValues, lists_dns


@dataclass(frozen=True)
class RenderedNode:
    name: str
    configmap: dict[str, str]  # ConfigMap key -> file text
    deployment: str  # k8s/<node>.yaml
    kustomization: str  # k8s/kustomize/<node>/kustomization.yaml


# Fleet-wide outputs under k8s/fleet/, from every node of the site.
FLEET_FILES = {"prometheus-scrape.yml": "prometheus-scrape.yml.j2", "podmonitor.yaml": "podmonitor.yaml.j2"}


def instances(v: NodeValues) -> list[Instance]:
    found = [Instance("noauth", False, v["ports.xroot"], v["ports.http"], v["origin.host"], v["cache.root"])]
    if v["auth.enabled"]:
        origin = v["origin.auth"] or v["origin.host"]
        found.append(Instance("auth", True, v["ports.auth"], v["ports.auth"], origin, v["cache.auth_root"]))
    return found


def daemons(v: NodeValues) -> list[str]:
    """What runs per instance: xrootd, and cmsd beside it when the node reports to a redirector."""
    return ["xrootd", "cmsd"] if v["redirector"] else ["xrootd"]


def disks(v: NodeValues) -> list[str]:
    """Every directory the cache writes: its instances' namespace roots, then its data and metadata disks."""
    return [i.root for i in instances(v)] + v["cache.data_disks"] + v["cache.meta_disks"]


def _has_issuers(v: NodeValues) -> bool:
    return any(ns.issuers for ns in v["namespaces.protected"])


def _auth(v: NodeValues) -> bool:
    return v["auth.enabled"]


def _always(v: NodeValues) -> bool:
    return True


# ConfigMap key -> (template, when it is part of the node, extra context).
CONFIGMAP_FILES: dict[str, tuple[str, Callable[[NodeValues], bool], dict[str, Any]]] = {
    "xrootd-noauth.cfg": ("xrootd-cache.cfg.j2", _always, {"instance": "noauth"}),
    "xrootd-auth.cfg": ("xrootd-cache.cfg.j2", _auth, {"instance": "auth"}),
    "Authfile-noauth": ("Authfile-noauth.j2", _always, {}),
    "Authfile-auth": ("Authfile-auth.j2", _auth, {}),
    "robots.txt": ("robots.txt.j2", _always, {}),
    "lcmaps.cfg": ("lcmaps.cfg.j2", _auth, {}),
    "voms-mapfile": ("voms-mapfile.j2", _auth, {}),
    "scitokens.cfg": ("scitokens.cfg.j2", lambda v: _auth(v) and _has_issuers(v), {}),
    "grid-mapfile.local": ("grid-mapfile.local.j2", lambda v: _auth(v) and lists_dns(v), {}),
    "cachemgr.crontab": ("cachemgr.crontab.j2", _always, {}),
    "supervisord.conf": ("supervisord.conf.j2", _always, {}),
    "supervisord-noauth.conf": ("supervisord-instance.conf.j2", _always, {"instance": "noauth"}),
    "supervisord-auth.conf": ("supervisord-instance.conf.j2", _auth, {"instance": "auth"}),
    "supervisord-services.conf": ("supervisord-services.conf.j2", _always, {}),
    RUNTIME_JSON: ("runtime.json.j2", _always, {}),  # last: it lists the files above
}


class _LiteralDumper(yaml.CSafeDumper):
    """Multi-line strings as `|` blocks, as kubectl writes ConfigMaps (libyaml: 10x faster than pure Python)."""


def _str_representer(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    style = "|" if "\n" in data and not any(c in data for c in "\t\r") and data == data.rstrip(" ") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_LiteralDumper.add_representer(str, _str_representer)


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_none=True)
    if isinstance(value, list | tuple):
        return [_plain(x) for x in value]
    return value


def _yaml(value: Any, indent: int = 0) -> str:
    text = yaml.dump(_plain(value), Dumper=_LiteralDumper, default_flow_style=False, sort_keys=False, width=1 << 16)
    pad = " " * indent
    return "\n".join(pad + line if line else line for line in text.rstrip("\n").split("\n"))


def _dn_quote(dn: str) -> str:
    return dn.replace("\\", "\\\\").replace('"', '\\"')


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("cachemgr.render", "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
        auto_reload=False,  # the package's templates do not change under a running render: no stat per use
    )
    env.filters.update(size=format_size, yaml=_yaml, dn_quote=_dn_quote, tojson=json.dumps, shquote=shlex.quote)
    return env


def _context(v: NodeValues) -> dict[str, Any]:
    found = instances(v)
    return {
        "v": v.tree(),
        "node": v.name,
        "deployment_name": f"xcache-{v.name}",
        "configmap_name": f"xcache-{v.name}-config",
        "configmap_mount": CONFIGMAP_MOUNT,
        "labels": {
            "app.kubernetes.io/name": "xcache",
            "app.kubernetes.io/instance": v.name,
            "app.kubernetes.io/managed-by": "cachemgr",
        },
        "instances": found,
        "run": RunDir(Path(v["paths.run"])),  # the files the pod's programs share
        "daemons": daemons(v),
        "summary": [f"127.0.0.1:{v['ports.summary']}", *v["monitoring.summary"]],
        "issuers": [(i, ns) for ns in v["namespaces.protected"] for i in ns.issuers],
        "task_lines": schedules.crontab_lines(v),
    }


def _runtime(v: NodeValues, found: list[Instance], files: list[str]) -> Runtime:
    """What `cachemgr supervise`, `health`, `selftest` and `exporter` need to know in the pod (runtime.json): the
    parameters as they are (core/pod.py names them), and here only what derives from several."""
    return derive(
        Runtime,
        v,
        files=files,
        instances=found,
        disks=disks(v),
        sentinel=v["cache.sentinel"] or None,
        auth=derive(
            Auth,
            v,
            hostcert_secret=v["auth.hostcert_secret"] if v["auth.hostcert_from"] == "secret" else None,
            scitokens=f"{v['paths.config']}/scitokens.cfg" if _has_issuers(v) else None,
        ),
        selftest=derive(
            Selftest,
            v,
            # Another origin may not have the public instance's probe file: no default then.
            auth_miss_path=v["selftest.auth_miss_path"] or (None if v["origin.auth"] else v["selftest.miss_path"]),
        ),
        exporter=exporter_settings.section(v),
    )


def config_checksum(configmap: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for key in sorted(configmap):
        digest.update(key.encode() + b"\0" + configmap[key].encode() + b"\0")
    return digest.hexdigest()


def render_node(v: NodeValues) -> RenderedNode:
    env = environment()
    ctx = _context(v)
    by_name = {i.name: i for i in ctx["instances"]}
    configmap: dict[str, str] = {}
    for key, (template, wanted, extra) in CONFIGMAP_FILES.items():
        if wanted(v):
            local = {**ctx, **extra}
            if "instance" in extra:
                local["inst"] = by_name[extra["instance"]]
            if key == RUNTIME_JSON:
                local["runtime"] = _runtime(v, ctx["instances"], list(configmap)).as_dict()
            configmap[key] = env.get_template(template).render(local)
    deployment = env.get_template("deployment.yaml.j2").render({**ctx, "checksum": config_checksum(configmap)})
    kustomization = env.get_template("kustomization.yaml.j2").render({**ctx, "configmap": configmap})
    return RenderedNode(v.name, configmap, deployment, kustomization)


def render_fleet(nodes: list[NodeValues]) -> dict[str, str]:
    env = environment()
    ctx = {"nodes": nodes, "namespaces": sorted({n["k8s.namespace"] for n in nodes})}
    return {name: env.get_template(template).render(ctx) for name, template in FLEET_FILES.items()}
