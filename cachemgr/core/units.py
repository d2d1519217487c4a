"""Sizes and durations as admins write them (30g, 48h): plain parsers, without pydantic, so that every
`cachemgr` command (the pod's probes too) can use them without its import cost."""

from __future__ import annotations

import re
from typing import Any

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_DURATION = re.compile(r"(\d+)\s*([smhd]?)", re.IGNORECASE)
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def text(raw: Any) -> str:
    if isinstance(raw, dict | list) or raw is None:
        raise ValueError(f"expected a single value, got {type(raw).__name__}")
    return str(raw).strip()


def _parse(raw: Any, pattern: re.Pattern[str], units: dict[str, int], what: str) -> int:
    """A count as it is, or a number with one of units' suffixes (case-insensitive); ValueError naming what."""
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return raw
    m = pattern.fullmatch(text(raw))
    if not m:
        raise ValueError(f'"{raw}" is not {what}')
    return int(float(m.group(1)) * units[m.group(2).lower()])


def parse_size(raw: Any) -> int:
    return _parse(raw, _SIZE, _SIZE_UNITS, "a size (use 30g)")


def format_size(n: int) -> str:
    """The largest exact XRootD size suffix: 1073741824 -> '1g'."""
    for suffix in ("t", "g", "m", "k"):
        unit = _SIZE_UNITS[suffix]
        if n and n % unit == 0:
            return f"{n // unit}{suffix}"
    return str(n)


def format_duration(seconds: int) -> str:
    """The largest unit that writes it exactly, as an admin would: 1800 -> 30m."""
    for unit in "dhm":
        if seconds and seconds % _DURATION_UNITS[unit] == 0:
            return f"{seconds // _DURATION_UNITS[unit]}{unit}"
    return f"{seconds}s"


def parse_duration(raw: Any) -> int:
    return _parse(raw, _DURATION, _DURATION_UNITS, "a duration (use 90s, 15m, 48h or 7d)")
