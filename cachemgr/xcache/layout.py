"""How XRootD (5.5.3) lays out a cache on disk, and the namespace paths it holds.

One disk: `<root>/<path>` (the data, sparse while partial) beside `<root>/<path>.cinfo`. Multi-disk
(`oss.space data D`, `pfc.spaces data meta`; seen on a real 5.5.3): both names in the namespace root are
absolute symlinks, the data to `<data disk>/data/<NN>/<mangled name>%`, the cinfo to `<meta disk>/meta/<NN>/...%`.
XrdPfc writes no temporary names; `.anew` is XrdOss's relocation temp (XrdOssReloc.cc), `.fail`, `.lock`,
`.pin`, `.mmap`, `.mkeep`, `.mlock`, `.pfn` its other side files (XrdOssPath.cc): none belong in a cache.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple, Protocol

from cachemgr.xcache.walk import Unit, Walk

SUFFIX = ".cinfo"  # beside each cached file: its block map and access records (cinfo.py)
QUARANTINE = ".cachemgr-quarantine"  # per disk: fsck --repair moves bad files here (a rename stays on the disk)

# XrdOss side files (XrdOssPath.cc's suffix table): left behind, they are temporaries gone stale.
TEMP_SUFFIXES = (".anew", ".fail", ".lock", ".pin", ".mmap", ".mkeep", ".mlock", ".pfn")


class Cache(Protocol):
    """Where a cache keeps its files: what walking and removing need of integrity's Target."""

    @property
    def roots(self) -> tuple[Path, ...]: ...  # namespace roots (oss.localroot), one per instance

    @property
    def disks(self) -> tuple[Path, ...]: ...  # data and metadata disks of a multi-disk node

    @property
    def reserved(self) -> tuple[str, ...]: ...  # names at the top of a root that are not cache files


class CachedFile(NamedTuple):
    """One cached file: a namespace path under one root (its data, its cinfo, or both exist)."""

    root: Path
    path: str  # "/a/b.root", as clients name it

    @property
    def data(self) -> Path:
        return self.root / self.path.lstrip("/")

    @property
    def cinfo(self) -> Path:
        return self.root / (self.path.lstrip("/") + SUFFIX)


def normalize(prefix: str) -> str:
    """A namespace path or prefix as given by a user: absolute, no trailing slash ("/" stays "/")."""
    if not prefix.startswith("/"):
        raise ValueError(f"{prefix!r}: a namespace path starts with /")
    parts = [p for p in prefix.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise ValueError(f"{prefix!r}: no . or .. in a namespace path")
    return "/" + "/".join(parts)


def matches(path: str, prefix: str) -> bool:
    """path is prefix itself or below it (prefix normalized)."""
    return prefix == "/" or path == prefix or path.startswith(prefix + "/")


def cached_files(target: Cache, prefix: str = "/") -> Iterator[CachedFile]:
    """Every cached file under prefix (normalized), in every root: each namespace path once, serially.

    A namespace path counts when its data or its .cinfo exists (a link, dangling or not, counts too).
    """
    for root in target.roots:
        start = root / prefix.lstrip("/")
        if prefix != "/" and not start.is_dir():  # one file (or nothing)
            base = prefix[: -len(SUFFIX)] if prefix.endswith(SUFFIX) else prefix
            cf = CachedFile(root, base)
            if os.path.lexists(cf.data) or os.path.lexists(cf.cinfo):
                yield cf
            continue
        parts = tuple(p for p in prefix.split("/") if p)
        for d in Walk(Unit(str(start), parts, True), skip=target.reserved, strict=True):
            ns = "/" + "/".join(d.parts) if d.parts else ""
            seen: set[str] = set()
            for e in d.files:
                base = e.name[: -len(SUFFIX)] if e.name.endswith(SUFFIX) else e.name
                if base not in seen:
                    seen.add(base)
                    yield CachedFile(root, f"{ns}/{base}")
