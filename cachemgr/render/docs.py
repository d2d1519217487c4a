"""docs/parameters.md and the `cachemgr params` listing, both from the parameter table."""

from __future__ import annotations

import json

from cachemgr.core.params import PARAMS
from cachemgr.render.engine import environment


def parameters_markdown() -> str:
    return environment().get_template("parameters.md.j2").render(params=PARAMS)


def parameters_text() -> str:
    width = max(len(p.name) for p in PARAMS)
    lines = []
    for p in PARAMS:
        default = "REQUIRED" if p.required else json.dumps(p.default)
        lines.append(f"{p.name:<{width}}  {p.kind:<20} {default:<28} {p.description}")
    return "\n".join(lines)
