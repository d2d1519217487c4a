"""The image: hadolint-clean, installed by the script CI runs, ids matching the values' defaults, XRootD 5.8 from
Debian 13 while the host keeps its own Debian's XRootD.

images/build.sh builds the image and tests/test_pod.py runs it; here: images/install.sh is
tests/run.sh's first step, and the entrypoint (cachemgr supervise) is tested on the host.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO

from cachemgr.core.params import BY_NAME
from cachemgr.core.pod import CONFIGMAP_MOUNT
from cachemgr.local.podman import engine

DOCKERFILE = (REPO / "images" / "Dockerfile").read_text()
# The XRootD each Debian release ships (xrootd-server): the host has its release's, the image Debian 13's.
DEBIAN_XROOTD = {"12": "5.5.3", "13": "5.8.1"}


def test_hadolint_is_clean():
    hadolint = Path(sys.executable).with_name("hadolint")
    result = subprocess.run([str(hadolint), str(REPO / "images" / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_install_path_is_the_script_ci_runs():
    assert re.search(r"^RUN /opt/cachemgr/src/images/install.sh ", DOCKERFILE, re.M)
    assert "images/install.sh" in (REPO / "tests" / "run.sh").read_text()


def test_ids_match_the_values_defaults():
    assert f"ARG XROOTD_UID={BY_NAME['xrootd.uid'].default}" in DOCKERFILE
    assert f"ARG XROOTD_GID={BY_NAME['xrootd.gid'].default}" in DOCKERFILE


def test_base_is_pinned_and_entrypoint_is_supervise():
    assert re.search(r"^FROM debian:trixie-slim$", DOCKERFILE, re.M)
    assert 'ENTRYPOINT ["cachemgr"]' in DOCKERFILE
    assert f'CMD ["supervise", "--configmap", "{CONFIGMAP_MOUNT}"]' in DOCKERFILE
    assert f"ARG VERSION={BY_NAME['k8s.image'].default.rsplit(':', 1)[1]}" in DOCKERFILE  # the default tag


def xrootd_version(*cmd: str) -> str:
    """`xrootd -v` run by cmd (it prints `v5.8.1` on stderr), without the v."""
    result = subprocess.run([*cmd, "-v"], capture_output=True, text=True, timeout=120, env=engine.env())
    out = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and re.fullmatch(r"v\d+\.\d+\.\d+", out), out
    return out[1:]


def os_release(text: str) -> dict[str, str]:
    return {k: v.strip('"') for k, _, v in (line.partition("=") for line in text.splitlines()) if v}


def test_the_host_runs_the_xrootd_its_debian_ships():
    release = os_release(Path("/etc/os-release").read_text())
    if release.get("ID") != "debian" or release.get("VERSION_ID") not in DEBIAN_XROOTD:
        pytest.skip(f"not Debian 12 or 13: {release.get('PRETTY_NAME')}")
    want = DEBIAN_XROOTD[release["VERSION_ID"]]
    assert xrootd_version("xrootd") == want
    package = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "xrootd-server"], capture_output=True, text=True)
    assert package.stdout.startswith(f"{want}-"), package.stdout  # Debian's package, not another xrootd on PATH


@pytest.mark.usefixtures("image")
def test_the_image_runs_xrootd_5_8_from_debian_13():
    ref = BY_NAME["k8s.image"].default

    def in_image(program: str, *args: str) -> list[str]:
        return ["podman", "run", "--rm", "--network=none", "--entrypoint", program, ref, *args]

    release = os_release(engine.run(*in_image("cat", "/etc/os-release")).stdout)
    assert (release["ID"], release["VERSION_ID"]) == ("debian", "13")
    version = xrootd_version(*in_image("xrootd"))
    assert version.startswith("5.8.") and version == DEBIAN_XROOTD["13"]
