"""runtime.json: what the pod's programs need to know about their node, as one typed structure.

A field marked param(NAME) is that parameter's value as it is; the renderer derives the Runtime from the node's
values (values/derive.py), computing only the fields that are not, and writes it (runtime.json.j2); supervise,
health, selftest, the exporter and status load it (load_runtime). The files the pod's programs share in paths.run are
named in RunDir only.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

RUNTIME_JSON = "runtime.json"
# Where the pod mounts its ConfigMap, read-only; `cachemgr supervise --configmap` installs it into paths.config,
# which every other command's --config names.
CONFIGMAP_MOUNT = "/etc/cachemgr/configmap"


def param(name: str) -> Any:
    """A field that is parameter `name`'s value, as it is (values/derive.py fills it from the node's values)."""
    return field(metadata={"param": name})


class PodConfigError(Exception):
    """The pod's configuration cannot be used; the message says which file and why."""


@dataclass(frozen=True)
class RunDir:
    """paths.run, and every file the pod's programs share there."""

    path: Path

    @property
    def tasks(self) -> Path:  # the scheduler's state: last runs of every task
        return self.path / "tasks.json"

    @property
    def selftest(self) -> Path:  # the self-test's latest result
        return self.path / "selftest.json"

    @property
    def fsck(self) -> Path:  # the latest `cachemgr fsck` of the node's cache: findings by kind, time, duration
        return self.path / "fsck.json"

    @property
    def process_exits(self) -> Path:  # unexpected exits counted by the process-events listener
        return self.path / "processes.json"

    @property
    def supervisor_socket(self) -> Path:
        return self.path / "supervisor.sock"

    @property
    def supervisor_pid(self) -> Path:
        return self.path / "supervisord.pid"

    @property
    def programs(self) -> Path:  # the supervisord program groups this pod runs (links into paths.config)
        return self.path / "supervisord.d"

    # Flag files `cachemgr health` reads; each holds a one-line reason.
    @property
    def draining(self) -> Path:  # --ready fails while it exists
        return self.path / "draining"

    @property
    def failed(self) -> Path:  # supervise cannot start the cache: --live and --ready fail with the reason
        return self.path / "failed"

    @property
    def auth_off(self) -> Path:  # the node's authenticated instance was left out: --ready fails with the reason
        return self.path / "auth-off"


@dataclass(frozen=True)
class Instance:
    """One xrootd (and, with a redirector, cmsd) instance of the cache node."""

    name: str
    auth: bool
    port: int
    http_port: int
    origin: str
    root: str


@dataclass(frozen=True)
class Paths:
    config: str = param("paths.config")  # where supervise installs the ConfigMap's files (it is mounted elsewhere)
    run: str = param("paths.run")
    log: str = param("paths.log")


@dataclass(frozen=True)
class Auth:
    enabled: bool = param("auth.enabled")
    hostcert: str = param("auth.hostcert")
    hostcert_secret: str | None  # the Secret the host cert comes from, when it does
    xrd_dir: str = param("auth.xrd_dir")
    cadir: str = param("auth.cadir")
    gridmap: str = param("auth.gridmap")
    scitokens: str | None  # the rendered scitokens.cfg, when a protected namespace has issuers


@dataclass(frozen=True)
class Selftest:
    interval: float = param("selftest.interval")
    miss_path: str | None = param("selftest.miss_path")
    auth_miss_path: str | None
    timeout: float = param("selftest.timeout")


@dataclass(frozen=True)
class Runtime:
    files: list[str]  # the ConfigMap's other keys
    user: str = param("xrootd.user")
    paths: Paths
    instances: list[Instance]
    disks: list[str]  # namespace roots, data and metadata disks
    sentinel: str | None
    disk_high: float = param("cache.disk_high")
    inode_high: float = param("cache.inode_high")
    blocksize: int = param("cache.blocksize")
    drain: float = param("k8s.drain")
    auth: Auth
    selftest: Selftest
    exporter: dict[str, Any]  # the exporter's own section (cachemgr/stats/settings.py reads it)

    @property
    def run(self) -> RunDir:
        return RunDir(Path(self.paths.run))

    @property
    def config(self) -> Path:
        return Path(self.paths.config)

    @property
    def log(self) -> Path:
        return Path(self.paths.log)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Runtime:
        parts = {"paths": Paths, "auth": Auth, "selftest": Selftest}
        values = {f.name: raw[f.name] for f in fields(cls)}
        values.update({name: kind(**raw[name]) for name, kind in parts.items()})
        values["instances"] = [Instance(**i) for i in raw["instances"]]
        return cls(**values)


def load_runtime(config_dir: Path) -> Runtime:
    path = config_dir / RUNTIME_JSON
    try:
        return Runtime.from_dict(json.loads(path.read_text()))
    except OSError as e:
        raise PodConfigError(f"{path}: {e.strerror}: is {config_dir} a node's rendered ConfigMap?") from None
    except ValueError as e:
        raise PodConfigError(f"{path}: not JSON: {e}") from None
    except (KeyError, TypeError) as e:
        raise PodConfigError(f"{path}: {e!r}: is the ConfigMap rendered by this cachemgr?") from None
