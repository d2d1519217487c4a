"""Shared fixtures. Tests run the real programs: xrootd, cmsd, supervisord, curl, kubectl."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cachemgr import sandbox
from cachemgr.xrootd import origin

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "k8s"

MINIMAL_SITE = """\
site:
  name: TEST_SITE
origin:
  host: origin.example.org:1094
"""


def cachemgr(*args: str, cwd: Path | None = None, timeout: float = 120, env: dict | None = None):
    """Run the real CLI as an admin would."""
    return subprocess.run(
        [sys.executable, "-m", "cachemgr", *args],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.fixture
def values(tmp_path: Path):
    """A values dir with a minimal site.yaml; call it with {node: text} to add node files."""
    root = tmp_path / "values"
    (root / "nodes").mkdir(parents=True)
    (root / "site.yaml").write_text(MINIMAL_SITE)

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
    """`cachemgr demo`, running for the tests of one module (see demo_run.py)."""
    from demo_run import start

    running = start()
    yield running
    running.stop()


@contextlib.contextmanager
def serving(
    files: dict[str, bytes], protect: origin.Protection | None = None, port: int | None = None
) -> Iterator[origin.Origin]:
    """A real xrootd origin serving files (path -> content), stopped and removed afterwards."""
    # Not under pytest's tmp dir: that is mode 0700 and xrootd runs as its own user.
    root = Path(tempfile.mkdtemp(prefix="cachemgr-test-origin-"))
    try:
        up = origin.start(root, sandbox.run_user(), port, protect)
        try:
            for name, content in files.items():
                (up.data / name.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
                (up.data / name.lstrip("/")).write_bytes(content)
            yield up
        finally:
            up.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pods() -> Iterator[list]:
    """Pods (tests/pod.py) a test starts: stopped and removed afterwards."""
    started: list = []
    yield started
    for pod in started:
        pod.stop()
        sandbox.remove(pod.box)


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    """Prometheus text -> {(name, sorted labels): value}."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(url: str, wait: float = 30) -> str:
    """/metrics of an exporter that may still be starting."""
    deadline = time.monotonic() + wait
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.read().decode()
        except OSError:
            assert time.monotonic() < deadline, f"no exporter at {url}"
            time.sleep(0.5)


def processes_naming(text: str) -> list[str]:
    """Command lines of running processes that contain text (a test's temp dir): what it left behind."""
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    return [line for line in ps.splitlines() if text in line]
