"""`cachemgr demo --auth` as a user runs it: the printed CA, reader and URLs work as the README says."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.clients import curl, xrdcp
from support.demo import Demo, start
from support.metrics import samples, scrape, value
from support.wait import eventually

from cachemgr.credentials import throwaway, x509

pytestmark = pytest.mark.usefixtures("xrootd_installed")

SECRET = b"Only the authenticated instance may serve this.\n"
HELLO = b"Hello from the cachemgr demo origin.\n"


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    running = start("--auth")
    yield running
    if running.proc.poll() is None:
        running.stop()


def reader(demo: Demo) -> throwaway.Reader:
    return throwaway.Reader(Path(demo.env["USER_CERT"]), Path(demo.env["USER_KEY"]), Path(demo.env["USER_PROXY"]))


def newcomer(demo: Demo, tmp_path: Path) -> throwaway.Reader:
    """A user the admin signs with the demo's CA after the fact: valid, but in no grid-mapfile."""
    ca = throwaway.Issued(x509.load_cert(Path(demo.env["CA_CERT"])), x509.load_key(Path(demo.env["CA_KEY"])))
    return throwaway.write_reader(throwaway.issue(ca, "/DC=org/DC=example/CN=Newcomer", host=False), tmp_path, "new")


def secret_url(demo: Demo, key: str) -> str:
    path = f"{demo.env['PROTECTED']}/secret.txt"
    return f"{demo.env[key]}/{path}" if key == "AUTH_XROOT" else f"{demo.env[key]}{path}"  # root://h:p//path


def test_the_printed_reader_reads_the_protected_namespace_over_xroot_and_https(demo: Demo):
    cadir = Path(demo.env["CA_DIR"])
    for proxy in (True, False):
        result = xrdcp(secret_url(demo, "AUTH_XROOT"), cadir=cadir, reader=reader(demo), proxy=proxy)
        assert result.returncode == 0 and result.stdout == SECRET, result.stderr
    r = reader(demo)
    for cert, key in ((r.cert, r.key), (r.proxy, r.proxy)):  # the plain cert, and the proxy (cert + key + chain)
        got = curl(secret_url(demo, "AUTH_HTTPS"), cacert=Path(demo.env["CA_CERT"]), cert=cert, key=key)
        assert got == (200, SECRET), got


def test_a_new_user_of_the_demo_ca_is_refused_under_protected_and_reads_elsewhere(demo: Demo, tmp_path: Path):
    cadir, cacert = Path(demo.env["CA_DIR"]), Path(demo.env["CA_CERT"])
    new = newcomer(demo, tmp_path)
    refused = xrdcp(secret_url(demo, "AUTH_XROOT"), cadir=cadir, reader=new)
    assert refused.returncode != 0 and b"[3010]" in refused.stderr and SECRET not in refused.stdout, refused.stderr
    status, body = curl(secret_url(demo, "AUTH_HTTPS"), cacert=cacert, cert=new.cert, key=new.key)
    assert status == 403 and SECRET not in body
    public = xrdcp(f"{demo.env['AUTH_XROOT']}/{demo.env['SAMPLE']}", cadir=cadir, reader=new)
    assert public.returncode == 0 and public.stdout == HELLO, public.stderr
    got = curl(f"{demo.env['AUTH_HTTPS']}{demo.env['SAMPLE']}", cacert=cacert, cert=new.cert, key=new.key)
    assert got == (200, HELLO), got


def test_the_public_instance_still_refuses_the_protected_namespace(demo: Demo):
    status, body = curl(f"{demo.env['CACHE_HTTP']}{demo.env['PROTECTED']}/secret.txt", cacert=Path(demo.env["CA_CERT"]))
    assert status == 403 and SECRET not in body


def test_the_self_test_reaches_the_protected_origin(demo: Demo):
    def passed() -> bool:
        got = samples(scrape(demo.env["METRICS"]))
        selftest = {k: v for k, v in got.items() if k[0].startswith("cachemgr_selftest")}
        assert value(got, "cachemgr_selftest_success", check="miss_auth") == 1, selftest
        return True

    eventually(passed, 60, interval=1, ignore=(AssertionError,))


def test_demo_auth_stops_within_10s_and_leaves_nothing(demo: Demo):
    took = demo.stop()
    assert demo.proc.returncode == 0 and took <= 10, took
    assert demo.leftovers() == []
    assert not demo.root.exists()


def test_demo_auth_killed_with_sigkill_leaves_no_process_port_or_dir_within_10s():
    start("--auth").killed_leaves_nothing()
