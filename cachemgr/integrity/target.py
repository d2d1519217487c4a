"""Which cache an integrity command looks at: the node's installed settings (--config) or stand-alone flags; the
commands' flags (light to import: `cachemgr --help` builds them).

fsck, evict and verify-origin share add_arguments() and from_args(): `--config DIR` (runtime.json, as in the pod)
or `--root DIR` (repeatable) with `--meta DIR`/`--data DIR` for the disks of a multi-disk node, and `--origin URL`.
"""

from __future__ import annotations

import argparse
import os
import pwd
from dataclasses import dataclass, field
from pathlib import Path

from cachemgr.core.args import default, duration, size
from cachemgr.core.params import BY_NAME
from cachemgr.core.pod import CONFIGMAP_MOUNT, PodConfigError, RunDir, load_runtime
from cachemgr.xcache.layout import QUARANTINE


class TargetError(Exception):
    """Bad usage or an unusable config: the commands exit 2 with this one-line message."""


@dataclass(frozen=True)
class Target:
    roots: tuple[Path, ...]  # namespace roots (oss.localroot), one per xrootd instance
    disks: tuple[Path, ...]  # data and meta disks (oss.space dirs) the roots' links point into; empty on one disk
    user: str | None  # who owns the cache's files (None: whoever owns each root)
    origins: dict[Path, str]  # root -> its instance's origin (host:port or URL); empty when unknown
    run: RunDir | None  # the pod's run dir (pid files), None stand-alone
    sentinel: str | None = None  # the disk sentinel file: not a cache file
    configs: dict[Path, Path] = field(default_factory=dict)  # root -> its instance's rendered xrootd config

    @property
    def reserved(self) -> tuple[str, ...]:
        """Names at the top of a root or disk that are not cache files."""
        return (QUARANTINE, self.sentinel) if self.sentinel else (QUARANTINE,)

    @property
    def uid(self) -> int | None:
        """The cache's owner; stand-alone without a user, the first root's owner."""
        if self.user is not None:
            return pwd.getpwnam(self.user).pw_uid
        return os.stat(self.roots[0]).st_uid if self.roots else None


def add_arguments(p: argparse.ArgumentParser, origin: bool = False) -> None:
    """The shared flags; origin: also --origin (verify-origin needs it)."""
    p.add_argument("--config", type=Path, metavar="DIR", help="the node's installed config (default without --root: "
                   f"the pod's, else {BY_NAME['paths.config'].default})")  # fmt: skip
    p.add_argument("--root", type=Path, action="append", default=[], metavar="DIR",
                   help="stand-alone: a namespace root (oss.localroot); repeatable")  # fmt: skip
    p.add_argument("--meta", type=Path, action="append", default=[], metavar="DIR",
                   help="stand-alone: a metadata disk (oss.space meta DIR); repeatable")  # fmt: skip
    p.add_argument("--data", type=Path, action="append", default=[], metavar="DIR",
                   help="stand-alone: a data disk (oss.space data DIR); repeatable")  # fmt: skip
    p.add_argument("--user", help="stand-alone: the user owning the cache's files (default: the first root's owner)")
    if origin:
        p.add_argument("--origin", metavar="URL", help="stand-alone: the origin (root://host:port)")


def fsck_arguments(p: argparse.ArgumentParser) -> None:
    add_arguments(p)
    p.add_argument("--repair", action="store_true", help="move each bad file (its pair) into quarantine on its disk")
    p.add_argument("--prefix", default="/", metavar="P", help="only namespace paths under P (default: all)")
    p.add_argument("--state", type=Path, help="write the results here (default with --config: paths.run/fsck.json)")
    p.add_argument("--temp-age", type=duration, default=default("fsck.temp_age"), help="older temporaries are stale")
    p.add_argument("--quarantine-max", type=size, default=default("fsck.quarantine_max"), help="per disk")
    p.add_argument("--quarantine-age", type=duration, default=default("fsck.quarantine_age"))


def evict_arguments(p: argparse.ArgumentParser) -> None:
    add_arguments(p)
    p.add_argument("--dry-run", action="store_true", help="list what would be evicted; change nothing")
    p.add_argument("path", metavar="PATH|PREFIX", help="a cached file, or a directory: everything under it")


def verify_arguments(p: argparse.ArgumentParser) -> None:
    add_arguments(p, origin=True)
    p.add_argument("--prefix", default="/", metavar="P", help="only namespace paths under P (default: all)")
    p.add_argument("--sample", type=int, metavar="N", help="check N cached files picked at random (default: all)")
    p.add_argument("--evict", action="store_true", help="evict each mismatch, so the next read fetches it anew")
    p.add_argument("--jobs", type=int, default=8, help="stat requests to the origin at once (default: 8)")
    p.add_argument("--timeout", type=duration, default=default("origin.timeout"), help="per request to the origin")


def from_args(args: argparse.Namespace) -> Target:
    """The Target the flags name; raises TargetError for bad usage, a missing dir or an unusable config."""
    standalone = args.root or args.meta or args.data or args.user or getattr(args, "origin", None)
    if args.config and standalone:
        raise TargetError("--config and --root/--meta/--data/--user/--origin exclude each other")
    if standalone:
        if not args.root:
            raise TargetError("name the cache: --root DIR (or --config DIR)")
        origin = getattr(args, "origin", None)
        target = Target(
            roots=tuple(args.root),
            disks=tuple([*args.data, *args.meta]),
            user=args.user,
            origins={r: origin for r in args.root} if origin else {},
            run=None,
            sentinel=BY_NAME["cache.sentinel"].default,
        )
    else:
        target = from_config(args.config or default_config())
    for d in (*target.roots, *target.disks):
        if not d.is_dir():
            raise TargetError(f"{d}: not a directory")
    if target.user is not None:
        try:
            pwd.getpwnam(target.user)
        except KeyError:
            raise TargetError(f"user {target.user!r} does not exist") from None
    return target


def default_config() -> Path:
    """Without --config or --root: the pod's installed config (`kubectl exec POD -- cachemgr evict /path` needs no
    flag). In a pod the mounted ConfigMap's runtime.json names it (paths.config); elsewhere, the parameter's default."""
    try:
        return load_runtime(Path(CONFIGMAP_MOUNT)).config
    except PodConfigError:
        return Path(BY_NAME["paths.config"].default)


def from_config(config: Path) -> Target:
    try:
        rt = load_runtime(config)
    except PodConfigError as e:
        raise TargetError(str(e)) from None
    roots = tuple(Path(i.root) for i in rt.instances)
    return Target(
        roots=roots,
        disks=tuple(Path(d) for d in rt.disks if Path(d) not in roots),
        user=rt.user,
        origins={Path(i.root): i.origin for i in rt.instances},
        run=rt.run,
        sentinel=rt.sentinel,
        configs={Path(i.root): config / f"xrootd-{i.name}.cfg" for i in rt.instances},
    )
