"""Resource quantities (2, 500m, 16Gi) as the API server reads them, without the kubernetes client.

The grammar is apimachinery's pkg/api/resource/quantity.go (the Quantity comment and ParseQuantity, with
suffix.go's n and u); the value is computed as the kubernetes client's parse_quantity does (Decimal arithmetic,
the same suffix table), so both agree on every quantity the grammar accepts. The client itself would take more:
it hands the number to Python's Decimal, which also accepts "NaN", "1_000" or " 2".
"""

from __future__ import annotations

import re
from decimal import Decimal

_NUMBER = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_SYNTAX = re.compile(rf"[+-]?{_NUMBER}(?:(?P<suffix>[KMGTPE]i|[numkMGTPE])|[eE][+-]?[0-9]+)?")
# suffix.go's binary (1024^n) and decimal SI (1000^n) suffixes, as the client computes their factors.
_FACTORS = {f"{p}i": 1024 ** Decimal(n) for n, p in enumerate("KMGTPE", 1)}
_FACTORS |= {p: 1000 ** Decimal(n) for p, n in zip("numkMGTPE", (-3, -2, -1, 1, 2, 3, 4, 5, 6), strict=True)}


def parse(text: str) -> Decimal:
    """The quantity's value (16Gi -> 17179869184); ValueError when the API server would not parse it."""
    m = _SYNTAX.fullmatch(text)
    if m:
        suffix = m["suffix"] or ""
        try:
            number = Decimal(text[: len(text) - len(suffix)])
        except ArithmeticError:  # an exponent beyond Decimal's range (1e2000000000000000000): the client refuses it
            pass
        else:
            return number * _FACTORS[suffix] if suffix else number
    raise ValueError(f'"{text}" is not a Kubernetes quantity (use 2, 500m, 16Gi)')


def validate(text: str) -> str:
    """text if the API server would parse it as a quantity, else ValueError."""
    parse(text)
    return text
