"""argparse types for what admins write on command lines: durations and sizes as in the values (48h, 10g), and
parameter defaults as option defaults, so that a command and the values agree."""

from __future__ import annotations

import argparse
from typing import Any

from cachemgr.core.params import BY_NAME
from cachemgr.core.units import parse_duration, parse_size


def default(name: str) -> Any:
    """A parameter's default, as the option's default (so the task and the values agree)."""
    return BY_NAME[name].default


def duration(text: str) -> int:
    """argparse type for durations such as 48h (argparse applies it to string defaults too)."""
    try:
        return parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def size(text: str) -> int:
    """argparse type for sizes such as 10g."""
    try:
        return parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
