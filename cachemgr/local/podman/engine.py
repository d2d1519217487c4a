"""podman and kubectl as the pod demo and its tests call them: the project's podman settings, bounded waits."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from cachemgr.core import procs

# runc + cgroupfs and lower ulimits (see the file): ours, unless the caller names a containers.conf of its own.
CONTAINERS_CONF = Path(__file__).with_name("containers.conf")
REMOVE_WITHIN = 30.0  # seconds for a stopped pod to be gone


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


def pod_exists(name: str) -> bool:
    return podman("pod", "exists", name, check=False).returncode == 0


def remove_pod(name: str, played: Path, grace: float) -> None:
    """Stop the pod (SIGTERM, grace seconds, SIGKILL), then remove what `kube play` of played made of it."""
    if pod_exists(name):
        podman("pod", "stop", "--time", f"{grace:.0f}", name, timeout=grace + 60, check=False)
    podman("kube", "down", str(played), check=False)

    # podman 4.3.1 with cgroupfs can fail the pod's removal with EBUSY while conmon's cleanup still sits in the
    # pod's cgroup (containers/podman#14057): the pod stays, its container gone. Remove it again, bounded.
    def removed() -> bool:
        if pod_exists(name):
            podman("pod", "rm", "--force", name)  # EngineError (EBUSY again): another try in a second
        return not pod_exists(name)

    procs.wait_until(removed, REMOVE_WITHIN, 1, f"pod {name} not removed", ignore=(EngineError,), error=EngineError)
