"""Resource quantities (2, 500m, 16Gi) as the API server reads them.

The kubernetes client's parse_quantity gives the value, but it hands the number to Python's Decimal,
which also takes "NaN", "1_000" or " 2". The syntax check first is the grammar of apimachinery's
pkg/api/resource/quantity.go (the Quantity comment and ParseQuantity, with suffix.go's n and u).
"""

from __future__ import annotations

import re
from decimal import Decimal

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_SYNTAX = re.compile(rf"[+-]?{_NUMBER}(?:[KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?")


def validate(text: str) -> str:
    """text if the API server would parse it as a quantity, else ValueError (the syntax alone: no client)."""
    if not _SYNTAX.fullmatch(text):
        raise ValueError(f'"{text}" is not a Kubernetes quantity (use 2, 500m, 16Gi)')
    return text


def parse(text: str) -> Decimal:
    """The quantity's value (16Gi -> 17179869184); ValueError when the API server would not parse it."""
    from kubernetes.utils.quantity import parse_quantity  # the whole client, ~0.4 s: only when a value is needed

    return parse_quantity(validate(text))
