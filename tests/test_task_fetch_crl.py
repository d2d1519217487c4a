"""fetch-crl with the real fetch-crl against CRLs served on 127.0.0.1: verified before install, and a
failed download, a bad CRL or an expired CRL fails the task while the installed CRLs stay as they were."""

from __future__ import annotations

import datetime as dt
import socket

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from support import cachemgr
from support.httpserve import serve
from support.pki import NOW

from cachemgr.credentials import throwaway


def crl(ca, *, hours: float = 24, issued_hours_ago: float = 0.1, revoked: int = 0) -> bytes:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(NOW - dt.timedelta(hours=issued_hours_ago))
        .next_update(NOW - dt.timedelta(hours=issued_hours_ago) + dt.timedelta(hours=hours))
    )
    for serial in range(1, revoked + 1):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(NOW).build()
        )
    return builder.sign(ca.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


@pytest.fixture
def site(tmp_path):
    """A CA dir with one CA whose CRL URL points at a local web dir."""
    ca = throwaway.make_ca("cachemgr CRL test CA")
    ca_dir = tmp_path / "certificates"
    anchor = throwaway.install_ca(ca, ca_dir)
    www = tmp_path / "www"
    www.mkdir()
    return ca, ca_dir, anchor.stem, www


def fetch(ca_dir, timeout="3"):
    return cachemgr("task", "fetch-crl", "--ca-dir", str(ca_dir), "--download-timeout", timeout)


def point(ca_dir, h, url):
    (ca_dir / f"{h}.crl_url").write_text(f"{url}/ca.crl\n")


def install_good_crl(site, url: str) -> bytes:
    """A first run installs the CA's good CRL from url; returns the installed file's bytes."""
    ca, ca_dir, h, www = site
    (www / "ca.crl").write_bytes(crl(ca))
    point(ca_dir, h, url)
    assert fetch(ca_dir).returncode == 0
    return (ca_dir / f"{h}.r0").read_bytes()


def installed(ca_dir, h):
    return x509.load_pem_x509_crl((ca_dir / f"{h}.r0").read_bytes())


def test_fetches_verifies_and_installs(site):
    ca, ca_dir, h, www = site
    (www / "ca.crl").write_bytes(crl(ca, revoked=2))
    with serve(www) as server:
        point(ca_dir, h, server.url)
        result = fetch(ca_dir)
    assert result.returncode == 0, result.stderr
    assert "1 CA(s) current" in result.stdout
    got = installed(ca_dir, h)
    assert got.is_signature_valid(ca.cert.public_key()) and len(got) == 2


def test_server_down_fails_visibly_and_keeps_the_old_crl(site):
    _, ca_dir, h, www = site
    with serve(www) as server:
        before = install_good_crl(site, server.url)
    result = fetch(ca_dir)  # the server is gone
    assert result.returncode == 1
    assert f"no CRL for {h}: CRL retrieval for {h} failed" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert (ca_dir / f"{h}.r0").read_bytes() == before


def test_server_that_never_answers_times_out(site):
    _, ca_dir, h, _ = site
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)  # accepts connections, never answers
    try:
        point(ca_dir, h, f"http://127.0.0.1:{silent.getsockname()[1]}")
        result = fetch(ca_dir, timeout="2")
    finally:
        silent.close()
    assert result.returncode == 1 and h in result.stderr
    assert not (ca_dir / f"{h}.r0").exists()


def test_crl_signed_by_another_ca_is_refused(site, tmp_path):
    _, ca_dir, h, www = site
    with serve(www) as server:
        before = install_good_crl(site, server.url)
        impostor = throwaway.make_ca("cachemgr CRL test CA")  # same name, other key
        (www / "ca.crl").write_bytes(crl(impostor, issued_hours_ago=0))
        result = fetch(ca_dir)
    assert result.returncode == 1
    assert (ca_dir / f"{h}.r0").read_bytes() == before


def test_expired_crl_is_reported(site):
    ca, ca_dir, h, www = site
    (www / "ca.crl").write_bytes(crl(ca, hours=1, issued_hours_ago=3))  # nextUpdate 2 h ago
    with serve(www) as server:
        point(ca_dir, h, server.url)
        result = fetch(ca_dir)
    assert result.returncode == 1
    assert f"no CRL for {h}: {h}/0: CRL has nextUpdate time in the past" in result.stderr


def test_installed_crl_past_its_next_update_is_reported(site):
    ca, ca_dir, h, _ = site
    (ca_dir / f"{h}.r0").write_bytes(
        x509.load_der_x509_crl(crl(ca, hours=1, issued_hours_ago=3)).public_bytes(serialization.Encoding.PEM)
    )
    before = (ca_dir / f"{h}.r0").read_bytes()
    point(ca_dir, h, "http://127.0.0.1:9")  # nothing listens there
    result = fetch(ca_dir)
    assert result.returncode == 1 and f"{h}.r0 expired at" in result.stderr
    assert (ca_dir / f"{h}.r0").read_bytes() == before


def test_no_crl_urls_is_nothing_to_do(tmp_path):
    (tmp_path / "certificates").mkdir()
    result = fetch(tmp_path / "certificates")
    assert result.returncode == 0 and "nothing to fetch" in result.stdout
