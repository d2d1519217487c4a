"""What the exporter needs to know about its node, in one structure.

The renderer writes it into runtime.json as the "exporter" section (section()), `cachemgr exporter --config DIR`
reads it back (from_runtime()), and the stand-alone flags are its fields (add_arguments(), from_args()), with
the parameter table's defaults.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import Field, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cachemgr.core import quantity
from cachemgr.core.params import BY_NAME
from cachemgr.core.pod import PodConfigError, RunDir, Runtime
from cachemgr.core.units import parse_duration

if TYPE_CHECKING:
    from cachemgr.values.resolve import NodeValues


def _default(param: str) -> Any:
    return BY_NAME[param].default


def _flag(help: str) -> dict[str, str]:
    return {"help": help}


def _param(name: str, help: str, convert: Callable[[Any], Any] = lambda x: x) -> Any:
    """A field that is parameter `name` as it is: its default from the table, section() copies the node's value."""
    return field(default=convert(_default(name)), metadata={"help": help, "param": name})


@dataclass(frozen=True)
class Settings:
    listen: str = field(
        default=f"{_default('exporter.address')}:{_default('ports.metrics')}", metadata=_flag("HOST:PORT of /metrics")
    )
    cache_root: Path = _param("cache.root", "namespace root to scan", Path)  # noqa: RUF009 (a field())
    data_disks: tuple[Path, ...] = _param("cache.data_disks", "data disks; none: the cache root", tuple)
    meta_disks: tuple[Path, ...] = _param("cache.meta_disks", "metadata disks", tuple)
    summary_port: int = _param("ports.summary", "summary stream, UDP on 127.0.0.1")
    gstream_port: int = _param("ports.gstream", "pfc g-stream, UDP on 127.0.0.1")
    scan_depth: int = _param("exporter.scan_depth", "namespace prefix depth")
    scan_interval: float = _param("exporter.scan_interval", "seconds between cache scans", parse_duration)
    run_dir: Path = field(
        default=Path(_default("paths.run")),
        metadata=_flag("the pod's paths.run: task state, self-test results, program exits, supervisord's socket"),
    )
    host_cert: Path | None = field(default=None, metadata=_flag("host certificate to watch"))
    proxy: Path | None = field(default=None, metadata=_flag("proxy to watch"))
    ca_dir: Path | None = field(default=None, metadata=_flag("CA dir whose CRLs (*.r0, *.pem) to watch"))
    disable: tuple[str, ...] = _param("exporter.disable", "collectors not to run, by name", tuple)
    # Stand-alone there is no container limit to report: not the Deployment's default.
    memory_limit: int | None = field(default=None, metadata=_flag("the cache container's memory limit, bytes"))

    @property
    def address(self) -> tuple[str, int]:
        host, sep, port = self.listen.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ValueError(f"listen: {self.listen!r} is not HOST:PORT")
        return host, int(port)

    @property
    def run(self) -> RunDir:
        """The files the pod's other programs write there."""
        return RunDir(self.run_dir)


def section(v: NodeValues) -> dict[str, Any]:
    """runtime.json's "exporter" section: every field but run_dir, which is runtime.json's paths.run."""
    from cachemgr.values.derive import derived_fields  # rendering only: the exporter reads, without pydantic

    auth = v["auth.enabled"]
    values = derived_fields(
        Settings,
        v,
        listen=f"{v['exporter.address']}:{v['ports.metrics']}",
        host_cert=f"{v['auth.xrd_dir']}/xrdcert.pem" if auth else None,
        proxy=v["auth.proxy"] if auth else None,
        ca_dir=v["auth.cadir"] if auth else None,
        memory_limit=int(quantity.parse(v["k8s.memory_limit"])),
        run_dir=None,
    )
    del values["run_dir"]
    return values


_TYPES: dict[str, Callable[[Any], Any]] = {"Path": Path, "str": str, "int": int, "float": float, "bool": bool}


def _type(f: Field) -> tuple[Callable[[Any], Any], bool]:
    """The field's (item type, whether it is a tuple of them), from its annotation."""
    name = str(f.type).removesuffix(" | None")
    many = name.startswith("tuple[")
    item = name.removeprefix("tuple[").removesuffix(", ...]")
    if item not in _TYPES:
        raise TypeError(f"Settings.{f.name}: {f.type} is none of {', '.join(_TYPES)}: add its type to _TYPES")
    return _TYPES[item], many


# Read once, at import: a field of a type this module cannot read is the exporter's bug, not a bad runtime.json.
_FIELDS = {f.name: (f, *_type(f)) for f in fields(Settings)}


def from_runtime(rt: Runtime) -> Settings:
    values = {}
    try:
        raw = {**rt.exporter, "run_dir": rt.paths.run}
        for name, (_, item, many) in _FIELDS.items():
            value = raw[name]
            values[name] = None if value is None else tuple(map(item, value)) if many else item(value)
    except (KeyError, TypeError, ValueError) as e:
        raise PodConfigError(f"runtime.json: exporter: {e!r}: is the ConfigMap rendered by this cachemgr?") from None
    return Settings(**values)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per field (a switch, --x/--no-x, for a bool); a flag given overrides the field (`--disable` adds to
    it)."""
    for name, (f, item, many) in _FIELDS.items():
        shown = " ".join(map(str, f.default)) if many else f.default
        flag = f"--{name.replace('_', '-')}"
        help = f"{f.metadata['help']} (default: {shown or 'none'})"
        if item is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=help)
            continue
        parser.add_argument(
            flag,
            type=item,
            nargs="+" if many else None,
            action="extend" if many else "store",
            default=argparse.SUPPRESS,
            help=help,
        )


def from_args(args: argparse.Namespace, base: Settings) -> Settings:
    given = {name: getattr(args, name) for name in _FIELDS if hasattr(args, name)}
    for name, value in given.items():
        if isinstance(value, list):
            given[name] = (*getattr(base, name), *value) if name == "disable" else tuple(value)
    return replace(base, **given)
