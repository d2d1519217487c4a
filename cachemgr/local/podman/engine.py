"""podman and kubectl as the pod demo and its tests call them: the project's podman settings, bounded waits."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

# runc + cgroupfs and lower ulimits (see the file): ours, unless the caller names a containers.conf of its own.
CONTAINERS_CONF = Path(__file__).with_name("containers.conf")


class EngineError(Exception):
    """podman or kubectl failed; the message carries its own words."""


def env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF", str(CONTAINERS_CONF))}


def run(*cmd: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    try:
        result = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=env(), stdin=subprocess.DEVNULL
        )
    except FileNotFoundError:
        raise EngineError(f"{cmd[0]} is not installed (images/install.sh --container)") from None
    except subprocess.TimeoutExpired:
        raise EngineError(f"{' '.join(cmd[:3])}: no answer in {timeout:.0f} s") from None
    if check and result.returncode:
        raise EngineError(f"{' '.join(cmd[:3])}: {(result.stderr or result.stdout).strip()[-2000:]}")
    return result


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    return run("podman", *args, timeout=timeout, check=check)


def kubectl_dry_run(*args: str) -> dict[str, Any]:
    """What `kubectl create … --dry-run=client -o yaml` makes: the object an admin would apply."""
    return yaml.safe_load(run("kubectl", *args, "--dry-run=client", "-o", "yaml").stdout)


def image_exists(ref: str) -> bool:
    return podman("image", "exists", ref, check=False).returncode == 0
