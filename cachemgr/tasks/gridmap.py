"""gridmap: write the grid-mapfile from LDAP, a CVMFS catalog or a URL, merged with local overrides.

Without a source, the grid-mapfile is the local entries alone (the node's values list every reader).

Shrink guard: a source that is down, empty or suddenly much smaller must not lock readers out, so a
new file that is empty, or lost more than --max-shrink of the entries, is refused unless --force.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cachemgr import files
from cachemgr.gridmap import mapfile, sources
from cachemgr.tasks.base import TaskError, default


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", default=default("gridmap.source"), help="ldap://, cvmfs+http://, http(s)://, file://")
    p.add_argument("--out", type=Path, default=Path(default("auth.gridmap")))
    p.add_argument("--local", type=Path, help="overrides merged over the source (default: OUT.local)")
    p.add_argument("--account", default=default("gridmap.account"), help="account for LDAP and CVMFS DNs")
    p.add_argument("--ldap-base", default=default("gridmap.ldap_base"))
    p.add_argument("--ldap-filter", default=default("gridmap.ldap_filter"))
    p.add_argument("--ldap-attribute", default=default("gridmap.ldap_attribute"))
    p.add_argument(
        "--max-shrink",
        type=float,
        default=default("gridmap.max_shrink"),
        help="refuse losing more than this fraction of the entries",
    )
    p.add_argument("--force", action="store_true", help="install even an empty or much smaller file")
    p.add_argument("--source-timeout", type=float, default=30, help="seconds for the source to answer")


def _read_map(path: Path) -> dict[str, str]:
    try:
        return mapfile.parse(path.read_text(), str(path))
    except FileNotFoundError:
        return {}
    except (OSError, mapfile.MapfileError) as e:
        raise TaskError(f"{e}") from None


def _fetch(args: argparse.Namespace) -> dict[str, str]:
    query = sources.LdapQuery(args.ldap_base, args.ldap_filter, args.ldap_attribute)
    try:
        return sources.entries(args.source, args.account, query, args.source_timeout)
    except sources.SourceError as e:
        raise TaskError(f"{e}; {args.out} left as it was") from None


def run(args: argparse.Namespace) -> str:
    local = _read_map(args.local or args.out.with_name(args.out.name + ".local"))
    fetched = _fetch(args) if args.source else {}
    merged = {**fetched, **local}
    # Guard only what a source gives: without one the values are the whole list, and what they drop is meant to go.
    if args.source and not args.force:
        old = _read_map(args.out)
        if not fetched:
            raise TaskError(f"{args.source} gave no DNs; {args.out} left as it was (--force to accept)")
        lost = len(set(old) - set(merged))
        if old and lost / len(old) > args.max_shrink:
            raise TaskError(
                f"the new grid-mapfile would lose {lost} of {len(old)} entries (over "
                f"{args.max_shrink:.0%}); {args.out} left as it was (--force to accept)"
            )
    if not files.install(args.out, mapfile.format_entries(merged).encode(), 0o644):
        return f"{args.out} up to date ({len(merged)} entries)"
    return f"{args.out}: {len(merged)} entries ({len(fetched)} from {args.source or 'no source'}, {len(local)} local)"
