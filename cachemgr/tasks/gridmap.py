"""gridmap: write the grid-mapfile from LDAP, a CVMFS catalog or a URL, merged with local overrides.

Without a source, the grid-mapfile is the local entries alone (the node's values list every reader).

Shrink guard: a source that is down, empty or suddenly much smaller must not lock readers out, so a
new file that is empty, or lost more than --max-shrink of the entries, is refused unless --force.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from cachemgr.core import files
from cachemgr.core.args import duration
from cachemgr.gridmap import mapfile, sources
from cachemgr.tasks.base import Option, TaskError, TaskSpec, auth_enabled

if TYPE_CHECKING:  # the node's values are the renderer's; a task run does not load them
    from cachemgr.values.resolve import NodeValues


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


def _has_source(v: NodeValues) -> bool:
    return bool(v["gridmap.source"])


def _local(v: NodeValues) -> str | None:
    """The rendered grid-mapfile.local, when the node has one; without a source it is the whole list."""
    from cachemgr.values.resolve import lists_dns

    wanted = not v["gridmap.source"] or lists_dns(v)
    return f"{v['paths.config']}/grid-mapfile.local" if wanted else None


SPEC = TaskSpec(
    name="gridmap",
    start_order=40,
    doc=__doc__,
    run=run,
    when=auth_enabled,
    options=(
        Option("--source", "gridmap.source", help="ldap://, cvmfs+http://, http(s)://, file://"),
        Option("--out", "auth.gridmap", type=Path),
        Option("--local", value=_local, type=Path, help="overrides merged over the source (default: OUT.local)"),
        Option("--account", "gridmap.account", when=_has_source, help="account for LDAP and CVMFS DNs"),
        Option("--ldap-base", "gridmap.ldap_base", when=_has_source),
        Option("--ldap-filter", "gridmap.ldap_filter", when=_has_source),
        Option("--ldap-attribute", "gridmap.ldap_attribute", when=_has_source),
        Option(
            "--max-shrink",
            "gridmap.max_shrink",
            when=_has_source,
            type=float,
            help="refuse losing more than this fraction of the entries",
        ),
        Option("--force", switch=True, help="install even an empty or much smaller file"),
        Option(
            "--source-timeout",
            "gridmap.source_timeout",
            type=duration,
            when=_has_source,
            help="for the source to answer",
        ),
    ),
)
