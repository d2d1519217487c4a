"""Typed settings derived from a node's values: a dataclass whose fields say which parameter each one is
(metadata "param": runtime.json's Runtime, the exporter's Settings) is filled from the node's values, and only the
fields computed from several values are written by hand. A new setting is then its table row and its field."""

from __future__ import annotations

import dataclasses
import functools
import typing
from typing import Any, TypeVar

from cachemgr.values.resolve import NodeValues

T = TypeVar("T")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)  # evaluates every annotation: a fifth of rendering a node, uncached


def derived_fields(cls: type, v: NodeValues, **own: Any) -> dict[str, Any]:
    """cls's fields by name: own's value where given, else the parameter's value, else (a dataclass field) the
    dataclass derived likewise; TypeError for a field that is none of these (render would write a hole)."""
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in own:
            values[f.name] = own[f.name]
        elif "param" in f.metadata:
            values[f.name] = v[f.metadata["param"]]
        elif dataclasses.is_dataclass(hints[f.name]):
            values[f.name] = derive(hints[f.name], v)
        else:
            raise TypeError(f"{cls.__name__}.{f.name}: not a parameter, and not given")
    return values


def derive(cls: type[T], v: NodeValues, **own: Any) -> T:
    return cls(**derived_fields(cls, v, **own))
