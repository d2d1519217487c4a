"""The image: hadolint-clean, installed by the script CI runs, ids matching the values' defaults.

images/build.sh builds the image and tests/test_pod.py runs it; here: images/install.sh is
tests/run.sh's first step, and the entrypoint (cachemgr supervise) is tested on the host.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from support import REPO

from cachemgr.core.params import BY_NAME
from cachemgr.core.pod import CONFIGMAP_MOUNT

DOCKERFILE = (REPO / "images" / "Dockerfile").read_text()


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
    assert re.search(r"^FROM debian:bookworm-slim$", DOCKERFILE, re.M)
    assert 'ENTRYPOINT ["cachemgr"]' in DOCKERFILE
    assert f'CMD ["supervise", "--configmap", "{CONFIGMAP_MOUNT}"]' in DOCKERFILE
    assert f"ARG VERSION={BY_NAME['k8s.image'].default.rsplit(':', 1)[1]}" in DOCKERFILE  # the default tag
