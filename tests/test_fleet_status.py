"""`cachemgr status --prometheus` over the demo fleet: one real Prometheus scrapes every cache's exporter through
the scrape job cachemgr renders for a fleet (prometheus-scrape.yml.j2, the template of k8s/fleet/), rendered by
the demo for its own nodes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from support import cachemgr
from support.fleet import Fleet, start
from support.promserver import prometheus

pytestmark = pytest.mark.usefixtures("xrootd_installed")

# What every node of the fleet runs: its cache, the cmsd that reports it to the redirector, and cachemgr's own.
PROGRAMS = ("xrootd-noauth", "cmsd-noauth", "exporter", "selftest", "cron")


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    running = start(3)
    yield running
    running.stop()


def scrape_targets(path: Path) -> dict[str, str]:
    """host:port -> node label, for every target of the rendered scrape file."""
    jobs = yaml.safe_load(path.read_text())["scrape_configs"]
    groups = [group for job in jobs for group in job["static_configs"]]
    return {target: group["labels"]["node"] for group in groups for target in group["targets"]}


def programs(out: str) -> dict[str, dict[str, str]]:
    """node -> program -> state, read from the programs table status prints for each node."""
    shown: dict[str, dict[str, str]] = {}
    table: dict[str, str] | None = None
    for line in out.splitlines():
        text = line.strip()
        if text.endswith(": programs"):
            table = shown.setdefault(text.removesuffix(": programs"), {})
        elif table is not None and text.startswith("│"):
            cells = [cell.strip() for cell in text.strip("│").split("│")]
            table[cells[0]] = cells[1]
        elif table is not None and text.startswith("└"):
            table = None
    return shown


def test_every_node_through_the_rendered_scrape_job(fleet: Fleet):
    scrape = Path(fleet.env["FLEET_SCRAPE"])
    targets = scrape_targets(scrape)
    exporters = [url.removeprefix("http://").removesuffix("/metrics") for url in fleet.env["FLEET_METRICS"].split(",")]
    assert len(exporters) == len(fleet.env["FLEET_CACHES"].split(",")) == 3
    # The rendered job scrapes every node of the fleet, each under its own node label, and nothing else.
    assert sorted(targets) == sorted(exporters)
    assert len(set(targets.values())) == len(exporters)

    up = f'count(up{{job="cachemgr"}} == 1) == {len(exporters)}'
    # The rendered job scrapes every 30 s: a target's first scrape comes within one interval of the start.
    with prometheus(scrape=scrape, wait_for=up, timeout=90) as url:
        result = cachemgr("status", "--prometheus", url, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    shown = programs(result.stdout)
    assert sorted(shown) == sorted(targets.values()), result.stdout
    for node, states in shown.items():
        for program in PROGRAMS:
            assert states.get(program) == "up", f"{node}: {program} is {states.get(program)}:\n{result.stdout}"
