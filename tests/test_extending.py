"""Adding to cachemgr as the README's "How to add" says: a collector is one module, a task is one module and its
cron/ line, and no layer imports one above it. Each is tried on a copy of the package, as a contributor would."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO, printed
from support.metrics import by_label, samples, scrape
from support.wait import eventually

HELLO_COLLECTOR = '''\
"""A collector dropped into the package: nothing else names it."""

from cachemgr.stats.collectors import Collector, Family

HELLO = Family("cachemgr_hello", "1: the collector was found.")


class HelloCollector(Collector):
    FAMILIES = (HELLO,)

    @classmethod
    def from_settings(cls, settings):
        return cls()

    def collect(self):
        yield HELLO(1)
'''

HELLO_TASK = '''\
"""Write hello beside the node's run files: a task dropped into the package."""

from pathlib import Path

from cachemgr.tasks.base import Option, TaskSpec


def run(args):
    Path(args.out).write_text("hello\\n")
    return f"wrote {args.out}"


SPEC = TaskSpec(
    name="hello",
    start_order=60,
    doc=__doc__,
    run=run,
    options=(Option("--out", value=lambda v: f"{v['paths.run']}/hello.txt", help="file to write"),),
)
'''


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The package and its pyproject.toml copied to a dir of their own; its commands run from there."""
    root = tmp_path / "copy"
    shutil.copytree(REPO / "cachemgr", root / "cachemgr", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root)
    return root


def _env(copy: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(copy)}


def _cachemgr(copy: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cachemgr", *args], cwd=copy, env=_env(copy), capture_output=True, text=True, timeout=120
    )


def test_a_collector_module_dropped_into_the_package_is_served_with_its_success_gauge(copy: Path, tmp_path: Path):
    (copy / "cachemgr/stats/collectors/hello.py").write_text(HELLO_COLLECTOR)
    root, run = tmp_path / "namespace", tmp_path / "run"
    root.mkdir()
    run.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cachemgr", "exporter", "--listen", "127.0.0.1:0", "--cache-root", str(root),
         "--run-dir", str(run), "--summary-port", "0", "--gstream-port", "0"],
        cwd=copy, env=_env(copy), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        env = printed(proc, ["METRICS"], 30, "exporter", lambda: proc.stderr.read() if proc.poll() is not None else "")
        got = samples(scrape(env["METRICS"]))
        assert got["cachemgr_hello", ()] == 1
        assert by_label(got, "cachemgr_scrape_collector_success", "collector")["hello"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0


def test_a_task_module_and_its_cron_line_run_under_cachemgr_task_and_the_scheduler(copy: Path, tmp_path: Path):
    (copy / "cachemgr/tasks/hello.py").write_text(HELLO_TASK)
    out = tmp_path / "by-hand.txt"
    result = _cachemgr(copy, "task", "hello", "--out", str(out))
    assert (result.returncode, result.stdout, out.read_text()) == (0, f"wrote {out}\n", "hello\n"), result.stderr

    values, cron, run = tmp_path / "values", tmp_path / "cron", tmp_path / "run"
    (values / "nodes").mkdir(parents=True)
    run.mkdir()
    (values / "site.yaml").write_text("site:\n  name: T\norigin:\n  host: origin.example.org:1094\n")
    (values / "nodes/n1.yaml").write_text(f"node:\n  hostname: n1.example.org\npaths:\n  run: {run}\n")
    shutil.copytree(REPO / "cron", cron)
    (cron / "zz-site.cron").write_text("*/5 * * * *  hello --timeout 1m --at-start\n")
    rendered = tmp_path / "out"
    result = _cachemgr(copy, "render", "--values", str(values), "--cron", str(cron), "--out", str(rendered))
    assert result.returncode == 0, result.stderr
    crontab = rendered / "configmaps/n1/cachemgr.crontab"
    assert f"hello --timeout 1m --at-start --out {run}/hello.txt" in " ".join(crontab.read_text().split())

    state = tmp_path / "tasks.json"
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "cachemgr", "cron", "--crontab", str(crontab), "--state", str(state)],
        cwd=copy, env=_env(copy), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:

        def ran() -> bool:
            tasks = json.loads(state.read_text())["tasks"]
            return tasks["hello"]["consecutive_failures"] == 0 and tasks["hello"]["last_success"] is not None

        eventually(ran, 60, ignore=(FileNotFoundError, KeyError, ValueError))
        assert (run / "hello.txt").read_text() == "hello\n"
    finally:
        scheduler.send_signal(signal.SIGTERM)
        scheduler.wait(15)


def test_the_layers_contract_holds_and_refuses_an_upward_import(copy: Path):
    lint = [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"]
    kept = subprocess.run(lint, cwd=copy, env=_env(copy), capture_output=True, text=True, timeout=120)
    assert kept.returncode == 0, kept.stdout
    units = copy / "cachemgr/core/units.py"
    units.write_text(units.read_text() + "\n\ndef _upward():\n    from cachemgr.local import demo  # noqa: F401\n")
    broken = subprocess.run(lint, cwd=copy, env=_env(copy), capture_output=True, text=True, timeout=120)
    assert broken.returncode == 1
    assert "cachemgr.core is not allowed to import cachemgr.local" in broken.stdout


def test_an_exporter_setting_of_a_bool_parameter_is_rendered_read_back_and_a_switch(copy: Path, tmp_path: Path):
    """The recipe for a parameter the exporter reads: one field of Settings (auth.enabled stands in for a new bool)."""
    settings = copy / "cachemgr/stats/settings.py"
    text = settings.read_text()
    anchor = "    # Stand-alone there is no container limit"
    field = '    auth_on: bool = _param("auth.enabled", "whether the node runs its authenticated instance")\n'
    settings.write_text(text.replace(anchor, field + anchor, 1))
    out = tmp_path / "out"
    result = _cachemgr(copy, "render", "--values", str(REPO / "k8s"), "--cron", str(REPO / "cron"), "--out", str(out))
    assert result.returncode == 0, result.stderr
    read = f"""
import argparse
from pathlib import Path
from cachemgr.core.pod import load_runtime
from cachemgr.stats import settings
for node in ("stashcache-cmsd", "local"):
    print(node, settings.from_runtime(load_runtime(Path("{out}/configmaps") / node)).auth_on)
parser = argparse.ArgumentParser()
settings.add_arguments(parser)
print(parser.parse_args(["--no-auth-on"]).auth_on, parser.parse_args(["--auth-on"]).auth_on)
"""
    got = subprocess.run([sys.executable, "-c", read], cwd=copy, env=_env(copy), capture_output=True, text=True)
    assert got.stdout.split("\n") == ["stashcache-cmsd False", "local True", "False True", ""], got.stderr
