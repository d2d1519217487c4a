"""The grid-mapfile format: `"<DN>" account` per line, DN quoted with \\ and \" escaped."""

from __future__ import annotations

import re

_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"\s+(\S.*?)\s*$')
_UNQUOTED = re.compile(r"(/\S+)\s+(\S.*?)\s*$")


class MapfileError(ValueError):
    pass


def parse(text: str, source: str) -> dict[str, str]:
    """DN -> account; a line that is not an entry names its source and line."""
    entries: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        m = _QUOTED.fullmatch(stripped)
        if m:
            dn = re.sub(r"\\(.)", r"\1", m.group(1))
        elif m := _UNQUOTED.fullmatch(stripped):
            dn = m.group(1)
        else:
            raise MapfileError(f'{source}:{number}: not a grid-mapfile line ("<DN>" account): {stripped[:80]}')
        entries[dn] = m.group(2)
    return entries


def quote(dn: str) -> str:
    return '"' + dn.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_entries(entries: dict[str, str]) -> str:
    return "".join(f"{quote(dn)} {account}\n" for dn, account in sorted(entries.items()))
