"""`cachemgr check --installed` and supervise catch what xrootd 5.5.3 reports badly on the auth instance."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from support import EXAMPLE, cachemgr

from cachemgr.local import sandbox

ISSUER = [{"path": "/user/ligo", "account": "ligo", "issuers": [{"url": "https://token.example.org"}]}]


@pytest.fixture
def box():
    made = sandbox.create(
        EXAMPLE,
        "local",
        Path(tempfile.mkdtemp(prefix="cachemgr-test-preflight-")),
        extra={"namespaces.protected": ISSUER},
    )
    made.run_tasks()
    yield made
    sandbox.remove(made)


def check(box) -> tuple[int, str]:
    result = cachemgr("check", "--installed", str(box.config_dir))
    return result.returncode, result.stderr


def test_a_good_node_passes(box):
    assert cachemgr("check", "--installed", str(box.config_dir)).stdout.strip() == "ok"


def test_key_mode(box):
    key = Path(box.values["auth.xrd_dir"]) / "xrdkey.pem"
    key.chmod(0o644)
    code, err = check(box)
    assert code == 2 and f"{key}: mode 0644; xrootd needs 0600 or 0400" in err


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_key_owner(box):
    key = Path(box.values["auth.xrd_dir"]) / "xrdkey.pem"
    os.chown(key, 0, 0)
    code, err = check(box)
    assert code == 2 and f"{key}: owned by uid 0; xrootd runs as xrootd and must own it" in err


def test_missing_ca_dir_gridmap_and_scitokens(box):
    cadir, gridmap = Path(box.values["auth.cadir"]), Path(box.values["auth.gridmap"])
    for path in cadir.iterdir():
        path.unlink()
    cadir.rmdir()
    gridmap.unlink()
    (box.config_dir / "scitokens.cfg").unlink()
    code, err = check(box)
    assert code == 2
    assert f"{cadir}: no CA directory" in err and f"{gridmap}: missing" in err
    assert f"{box.config_dir}/scitokens.cfg: missing" in err


def test_supervise_leaves_the_auth_instance_out_and_says_why(box, capsys):
    from cachemgr.core.pod import load_runtime
    from cachemgr.runtime import supervise

    cadir = Path(box.values["auth.cadir"])
    for path in cadir.glob("*.0"):  # fix-certs passes (it reads the host cert); xrootd would fail on this
        path.unlink()
    assert supervise.run_start_tasks(load_runtime(box.config_dir)) is False
    out = capsys.readouterr().out
    assert "[supervise] task fix-certs succeeded" in out
    assert f"{cadir}: no CA certificates (<hash>.0): the authenticated instance and its cmsd are left out" in out


def test_supervise_runs_start_tasks_in_start_up_order_and_skips_those_needing_the_host_cert(box, capsys):
    """Whatever the crontab's order, fix-certs runs first; when it fails, refresh-proxy (which needs the host
    cert too) is skipped and the rest still run."""
    from cachemgr.core.pod import load_runtime
    from cachemgr.runtime import supervise

    crontab = box.config_dir / "cachemgr.crontab"
    crontab.write_text("\n".join(reversed(crontab.read_text().splitlines())) + "\n")
    Path(box.values["auth.hostkey"]).write_text("not a key\n")
    assert supervise.run_start_tasks(load_runtime(box.config_dir)) is False
    out = capsys.readouterr().out
    ran = [line.split()[2] for line in out.splitlines() if line.startswith("[supervise] task ")]
    assert ran == ["fix-certs", "fetch-crl", "gridmap"], out
    assert "[supervise] task fix-certs FAILED" in out and "no usable host certificate: " in out
