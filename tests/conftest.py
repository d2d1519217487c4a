"""Shared fixtures. Tests run the real programs: xrootd, cmsd, supervisord, curl, kubectl. Helpers: support/."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import MINIMAL_SITE, REPO
from support.demo import start

from cachemgr.core.params import BY_NAME
from cachemgr.local import sandbox
from cachemgr.local.podman import engine
from cachemgr.local.xrootd import process


@pytest.fixture
def values(tmp_path: Path):
    """A values dir with a minimal site.yaml, and the repository's cron/ beside it; call it with {node: text} to add
    node files."""
    root = tmp_path / "values"
    (root / "nodes").mkdir(parents=True)
    (root / "site.yaml").write_text(MINIMAL_SITE)
    shutil.copytree(REPO / "cron", tmp_path / "cron")

    def make(nodes: dict[str, str], site: str | None = None) -> Path:
        if site is not None:
            (root / "site.yaml").write_text(site)
        for name, text in nodes.items():
            (root / "nodes" / f"{name}.yaml").write_text(text)
        return root

    return make


@pytest.fixture(scope="session")
def xrootd_installed() -> None:
    for tool in ("xrootd", "cmsd", "xrdcp", "curl"):
        assert shutil.which(tool), f"{tool} is missing: run images/install.sh --test (tests/run.sh does)"


@pytest.fixture(scope="session")
def image() -> None:
    """The built image (tests/run.sh builds it before the tests enter their network namespace)."""
    if not process.is_root():
        pytest.skip("the pod runs under rootful podman: run the tests as root")
    ref = BY_NAME["k8s.image"].default
    if not engine.image_exists(ref):
        pytest.fail(f"no image {ref}: run images/build.sh (tests/run.sh does, before the tests)")


@pytest.fixture(scope="module")
def demo():
    """`cachemgr demo`, running for the tests of one module (see support/demo.py)."""
    running = start()
    yield running
    running.stop()


@pytest.fixture
def pods() -> Iterator[list]:
    """Pods (support/pod.py) a test starts: stopped and removed afterwards."""
    started: list = []
    yield started
    for pod in started:
        pod.stop()
        sandbox.remove(pod.box)
