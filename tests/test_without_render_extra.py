"""cachemgr installed without the `render` extra (the kubernetes client): every command works, or exits 2 with one
line saying what to install; never a traceback."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from support import EXAMPLE, cachemgr

from cachemgr.local import sandbox

INSTALL = "pip install 'cachemgr[render]'"


def _tree(root: Path) -> dict[Path, bytes]:
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_render_writes_the_same_files_and_warns_in_one_line_that_the_api_server_rules_were_not_run(tmp_path):
    assert cachemgr("render", "--values", str(EXAMPLE), "--out", str(tmp_path / "with")).returncode == 0
    result = cachemgr("render", "--values", str(EXAMPLE), "--out", str(tmp_path / "without"), client=False)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [f"cachemgr render: not checked against the API server's rules: {INSTALL}"]
    assert _tree(tmp_path / "without") == _tree(tmp_path / "with")


def test_render_still_refuses_values_that_break_the_memory_rule(values):
    vdir = values({"n1": "node:\n  hostname: n1.example.org\ncache:\n  ram: 8g\nk8s:\n  memory_limit: 4Gi\n"})
    result = cachemgr("render", "--values", str(vdir), "--out", str(vdir.parent / "out"), client=False)
    assert result.returncode == 2
    assert "k8s.memory_limit: 4Gi is below" in result.stderr and "Traceback" not in result.stderr
    assert not (vdir.parent / "out").exists()


def test_check_says_what_to_install_in_one_line():
    result = cachemgr("check", "--no-start", "--values", str(EXAMPLE), client=False)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"cachemgr check: needs the kubernetes client: {INSTALL}"]


def test_check_of_an_installed_config_needs_no_client():
    box = sandbox.create(EXAMPLE, "local", Path(tempfile.mkdtemp(prefix="cachemgr-test-noclient-")))
    try:
        box.run_tasks()
        result = cachemgr("check", "--installed", str(box.config_dir), client=False)
        assert (result.returncode, result.stdout, result.stderr) == (0, "ok\n", "")
    finally:
        sandbox.remove(box)


def test_params_needs_no_client():
    result = cachemgr("params", client=False)
    assert (result.returncode, result.stderr) == (0, "")


# Every module of cachemgr imported with `import kubernetes` failing: prints those that need it.
NEEDING_THE_CLIENT = """
import importlib, pkgutil, sys
sys.modules["kubernetes"] = None
import cachemgr

def needs_client(name):
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name.partition(".")[0] != "kubernetes":
            raise
        return True
    return False

names = [m.name for m in pkgutil.walk_packages(cachemgr.__path__, "cachemgr.") if m.name != "cachemgr.__main__"]
print(" ".join(sorted(name for name in names if needs_client(name))))
"""


def test_only_the_api_server_rules_need_the_client():
    """Every other module imports without it, so the commands built on them (supervise, exporter, demo, ...) run."""
    result = subprocess.run([sys.executable, "-c", NEEDING_THE_CLIENT], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "cachemgr.k8s.objects",
        "cachemgr.k8s.refusals",
        "cachemgr.k8s.rules",
        "cachemgr.local.check",
    ]
