"""What every task shares: its error type and parameter-table defaults for its options."""

from __future__ import annotations

import argparse
from typing import Any

from cachemgr.params import BY_NAME
from cachemgr.values.units import parse_duration


class TaskError(Exception):
    """The task refused or failed; nothing it manages was changed."""


def default(name: str) -> Any:
    """A parameter's default, as the option's default (so the task and the values agree)."""
    return BY_NAME[name].default


def duration(text: str) -> int:
    """argparse type for durations such as 48h (argparse applies it to string defaults too)."""
    try:
        return parse_duration(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
