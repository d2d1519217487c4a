"""runtime.json: what the pod's programs need to know about their node (rendered from its values)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Flag files in paths.run that `cachemgr health` reads; each holds a one-line reason.
DRAINING = "draining"  # --ready fails while it exists
FAILED = "failed"  # supervise cannot start the cache: --live and --ready fail with the reason
AUTH_OFF = "auth-off"  # the node's authenticated instance was left out: --ready fails with the reason


class PodConfigError(Exception):
    """The pod's configuration cannot be used; the message says which file and why."""


@dataclass(frozen=True)
class Runtime:
    raw: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        try:
            return self.raw[name]
        except KeyError:
            raise AttributeError(name) from None

    def path(self, key: str) -> Path:
        return Path(self.raw["paths"][key])

    @property
    def run(self) -> Path:
        return self.path("run")


def load(config_dir: Path) -> Runtime:
    path = config_dir / "runtime.json"
    try:
        return Runtime(json.loads(path.read_text()))
    except OSError as e:
        raise PodConfigError(f"{path}: {e.strerror}: is {config_dir} a node's rendered ConfigMap?") from None
    except ValueError as e:
        raise PodConfigError(f"{path}: not JSON: {e}") from None
