"""`cachemgr verify-origin`: cached files that changed at the origin after they were cached.

Each cached file (all, those under --prefix, or a random --sample of them) is stat'ed at its instance's origin
(origin.py) and compared with its .cinfo:

- size:     the origin's size is not the cinfo's file size.
- modified: the origin's mtime is later than the cinfo's creation time. XrdPfc sets that time once, when it
            first opens the file for caching (Info::SetBufferSizeFileSizeAndCreationTime), and fetches every
            block at or after it: a change at the origin after it means some or all cached blocks are older than
            the origin's bytes. Both are whole seconds, taken by two clocks (the origin's and the cache node's):
            a same-size change in the same second as the caching, or hidden by clock skew, is not seen.
- gone:     the origin no longer has the file.

One line per mismatch and a summary; exit 0 when all match, 1 with mismatches, 2 when the origin cannot be
asked (nothing is evicted then) or some files could not be checked. --evict evicts the mismatches with evict's
own eviction (remove.py: not while xrootd has them open), so the next read fetches the origin's bytes.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from cachemgr.integrity import origin as origins
from cachemgr.integrity.commands import outcome_line
from cachemgr.integrity.target import Target, TargetError, from_args
from cachemgr.xcache import cinfo
from cachemgr.xcache.layout import CachedFile, cached_files, normalize
from cachemgr.xcache.openfiles import OpenFilesUnknown
from cachemgr.xcache.remove import Remover


@dataclass(frozen=True)
class Result:
    file: CachedFile
    kind: str | None  # "size", "modified", "gone"; None: it matches
    detail: str
    error: bool = False  # could not be checked


def _when(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def compare(cf: CachedFile, origin: origins.Origin) -> Result:
    try:
        info = cinfo.read(cf.cinfo)
    except (OSError, cinfo.CinfoError) as e:
        return Result(cf, None, f"its .cinfo does not read ({e}): see cachemgr fsck", error=True)
    try:
        at = origin.stat(cf.path)
    except OSError as e:
        return Result(cf, None, f"{origin.url}: {e}", error=True)
    cached = f"cached {info.file_size} B since {_when(info.created)}"
    if at is None:
        return Result(cf, "gone", f"not at the origin {origin.url}; {cached}")
    now = f"origin {at.size} B, modified {_when(at.mtime)}; {cached}"
    if at.size != info.file_size:
        return Result(cf, "size", now)
    if at.mtime > info.created:
        return Result(cf, "modified", now)
    return Result(cf, None, now)


def _origins(target: Target, args: argparse.Namespace) -> dict[Path, origins.Origin]:
    """Each root's origin and the instance's login to it."""
    found = {}
    for root in target.roots:
        where = target.origins.get(root)
        if where is None:
            raise TargetError("which origin? --origin URL (or --config DIR)")
        found[root] = origins.Origin(
            url=origins.url(where),
            env=origins.login_env(target.configs[root]) if root in target.configs else {},
            user=target.user if target.user and os.geteuid() == 0 else None,
            timeout=args.timeout,
        )
    return found


def verify_origin(args: argparse.Namespace) -> int:
    try:
        target = from_args(args)
        prefix = normalize(args.prefix)
        if args.sample is not None and args.sample < 1:
            raise ValueError(f"--sample {args.sample}: check at least 1 file")
        at = _origins(target, args)
        todo = list(cached_files(target, prefix))
        total = len(todo)
        if args.sample is not None and args.sample < total:
            todo = random.sample(todo, args.sample)
        todo.sort()
        for o in {at[cf.root].url: at[cf.root] for cf in todo}.values():  # only those asked: another may be down
            o.probe()
    except (TargetError, ValueError, origins.OriginError) as e:
        print(f"cachemgr verify-origin: {e}", file=sys.stderr)
        return 2
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        results = list(pool.map(lambda cf: compare(cf, at[cf.root]), todo))
    stale = [r for r in results if r.kind]
    errors = [r for r in results if r.error]
    for r in results:
        if r.kind or r.error:
            print(f"{r.kind or 'error'}: {r.file.root}:{r.file.path}: {r.detail}")
    evicted = ""
    if args.evict and stale:
        remover = Remover(target, quarantine=False)
        try:
            outcomes = list(remover.remove(r.file for r in stale))
        except OpenFilesUnknown as e:
            print(f"cachemgr verify-origin: not evicting: {e}", file=sys.stderr)
            return 2
        for o in outcomes:
            print(outcome_line("evicted", o))
        done = [o for o in outcomes if not o.skipped]
        evicted = f"; evicted {len(done)} ({sum(o.bytes for o in done)} B), {len(outcomes) - len(done)} skipped"
    kinds = ", ".join(f"{k} {sum(r.kind == k for r in stale)}" for k in ("size", "modified", "gone"))
    print(
        f"verify-origin: {len(results)} of {total} cached files under {prefix} checked, "
        f"{len(stale)} changed at the origin ({kinds}), {len(errors)} not checked{evicted}"
    )
    return 2 if errors else 1 if stale else 0
