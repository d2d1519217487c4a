"""`cachemgr check` starts every rendered daemon of every node under the real xrootd and cmsd."""

from __future__ import annotations

import pytest
from support import EXAMPLE, cachemgr, processes_naming

from cachemgr.local.check import check_nodes

pytestmark = pytest.mark.usefixtures("xrootd_installed")

NODE = "node:\n  hostname: n1.example.org\n"


def test_every_example_node_starts_under_real_xrootd():
    result = cachemgr("check", "--values", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_started_daemons_per_node(monkeypatch):
    """Each instance (and cmsd beside it with a redirector) really reached `initialization completed`."""
    from cachemgr.local import sandbox

    started: dict[str, list[str]] = {}
    real = sandbox.Sandbox.start_daemons

    def spy(self, isolate, timeout=20):
        real(self, isolate, timeout)
        started[self.values.name] = sorted(f"{d.program}-{d.name}" for d in self.daemons)

    monkeypatch.setattr(sandbox.Sandbox, "start_daemons", spy)
    assert check_nodes(EXAMPLE) == []
    assert started == {
        "local": ["xrootd-auth", "xrootd-noauth"],
        "stashcache-single": ["xrootd-auth", "xrootd-noauth"],
        "stashcache-7disk": ["xrootd-auth", "xrootd-noauth"],
        "stashcache-cmsd": ["cmsd-noauth", "xrootd-noauth"],
    }


def test_directive_xrootd_rejects_is_reported_at_its_line(values):
    vdir = values({"n1": NODE + "xrootd:\n  extra:\n    - pfc.bogus 1\n"})
    result = cachemgr("check", "--values", str(vdir))
    assert result.returncode == 2
    assert f"{vdir}/nodes/n1.yaml:4: xrootd.extra[0]: xrootd noauth: initialization failed:" in result.stderr
    assert "unmatched pfc parameter: bogus" in result.stderr


def test_check_leaves_nothing_running(values):
    vdir = values({"n1": NODE})
    assert cachemgr("check", "--values", str(vdir)).returncode == 0
    assert processes_naming("cachemgr-check-n1") == []
