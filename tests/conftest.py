"""Shared fixtures. Tests run the real programs: xrootd, cmsd, supervisord, curl, kubectl. Helpers: support/."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import MINIMAL_SITE, REPO
from support.demo import start

from cachemgr.local import sandbox


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
