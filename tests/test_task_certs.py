"""fix-certs and refresh-proxy: verified, atomic, and never replacing good credentials with bad ones."""

from __future__ import annotations

import datetime as dt
import pwd
import stat
import sys

import pytest
from cryptography import x509
from support import cachemgr
from support.pki import ca_file, host, openssl_verify, snapshot, write

from cachemgr.credentials import throwaway
from cachemgr.credentials.x509 import PROXY_CERT_INFO

XROOTD = pwd.getpwnam("xrootd")


@pytest.fixture
def ca():
    return throwaway.make_ca("cachemgr test CA")


def fix_certs(cert, key, dest):
    return cachemgr(
        "task",
        "fix-certs",
        "--hostcert",
        str(cert),
        "--hostkey",
        str(key),
        "--dest-dir",
        str(dest),
        "--owner",
        "xrootd",
    )


def test_fix_certs_installs_copies_xrootd_can_use(ca, tmp_path):
    cert, key = write(host(ca), tmp_path, "host")
    dest = tmp_path / "xrd"
    result = fix_certs(cert, key, dest)
    assert result.returncode == 0, result.stderr
    assert (dest / "xrdcert.pem").read_bytes() == cert.read_bytes()
    mode = {name: stat.S_IMODE((dest / name).stat().st_mode) for name in ("xrdcert.pem", "xrdkey.pem")}
    assert mode == {"xrdcert.pem": 0o644, "xrdkey.pem": 0o600}
    assert {(dest / n).stat().st_uid for n in mode} == {XROOTD.pw_uid}
    assert openssl_verify(ca_file(ca, tmp_path), dest / "xrdcert.pem").returncode == 0

    before = snapshot(dest / "xrdcert.pem", dest / "xrdkey.pem")
    mtimes = [(dest / n).stat().st_mtime_ns for n in mode]
    again = fix_certs(cert, key, dest)
    assert again.returncode == 0 and "up to date" in again.stdout
    assert snapshot(*before) == before and [(dest / n).stat().st_mtime_ns for n in mode] == mtimes


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("expired", "expired on"),
        ("not-yet-valid", "not valid before"),
        ("mismatched-key", "does not match"),
        ("missing", "cannot read"),
        ("garbage", "not a PEM certificate"),
    ],
)
def test_fix_certs_refuses_bad_certs_and_keeps_the_old_copies(ca, tmp_path, case, reason):
    good_cert, good_key = write(host(ca), tmp_path, "good")
    dest = tmp_path / "xrd"
    assert fix_certs(good_cert, good_key, dest).returncode == 0
    before = snapshot(dest / "xrdcert.pem", dest / "xrdkey.pem")

    cert, key = write(
        {"expired": host(ca, days_left=-1), "not-yet-valid": host(ca, starts_in=2)}.get(case, host(ca)), tmp_path, "bad"
    )
    if case == "mismatched-key":
        key = good_key
    elif case == "missing":
        cert = tmp_path / "nope.pem"
    elif case == "garbage":
        cert.write_text("not a certificate\n")
    result = fix_certs(cert, key, dest)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and reason in result.stderr and "Traceback" not in result.stderr
    assert snapshot(*before) == before


def refresh(cert, key, out, *extra):
    return cachemgr(
        "task", "refresh-proxy", "--cert", str(cert), "--key", str(key), "--out", str(out), "--owner", "xrootd", *extra
    )


def test_refresh_proxy_makes_an_rfc3820_proxy_openssl_accepts(ca, tmp_path):
    cert, key = write(host(ca), tmp_path, "host")
    out = tmp_path / "run" / "x509up"
    made = dt.datetime.now(dt.UTC)
    result = refresh(cert, key, out, "--valid", "48h")
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600 and out.stat().st_uid == XROOTD.pw_uid
    chain = x509.load_pem_x509_certificates(out.read_bytes())
    proxy, issuer = chain[0], chain[1]
    assert issuer.subject == x509.load_pem_x509_certificate(cert.read_bytes()).subject
    assert proxy.subject.rdns[:-1] == issuer.subject.rdns
    assert proxy.subject.rdns[-1].rfc4514_string() == f"CN={proxy.serial_number}"
    ext = proxy.extensions.get_extension_for_oid(PROXY_CERT_INFO)
    assert ext.critical
    hours = (proxy.not_valid_after_utc - made).total_seconds() / 3600
    assert 47.5 < hours < 48.5
    proxy_pem = tmp_path / "proxy-only.pem"
    proxy_pem.write_bytes(out.read_bytes().split(b"-----END CERTIFICATE-----")[0] + b"-----END CERTIFICATE-----\n")
    verified = openssl_verify(ca_file(ca, tmp_path), proxy_pem, cert, proxy=True)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_refresh_proxy_skips_while_enough_time_is_left_and_renews_after(ca, tmp_path):
    cert, key = write(host(ca), tmp_path, "host")
    out = tmp_path / "x509up"
    assert refresh(cert, key, out, "--valid", "48h").returncode == 0
    first = out.read_bytes()
    skipped = refresh(cert, key, out, "--valid", "48h", "--min-remaining", "24h")
    assert skipped.returncode == 0 and "nothing to do" in skipped.stdout and out.read_bytes() == first
    renewed = refresh(cert, key, out, "--valid", "48h", "--min-remaining", "49h")
    assert renewed.returncode == 0 and out.read_bytes() != first


@pytest.mark.parametrize(("days_left", "reason"), [(-1, "expired on"), (0.5, "before a 48h proxy would")])
def test_refresh_proxy_never_outlives_the_host_cert(ca, tmp_path, days_left, reason):
    good_cert, good_key = write(host(ca), tmp_path, "good")
    out = tmp_path / "x509up"
    assert refresh(good_cert, good_key, out).returncode == 0
    before = snapshot(out)
    cert, key = write(host(ca, days_left=days_left), tmp_path, "short")
    result = refresh(cert, key, out, "--valid", "48h", "--min-remaining", "100h")
    assert result.returncode == 1 and reason in result.stderr
    assert snapshot(out) == before


def test_refresh_proxy_with_a_voms_command(ca, tmp_path):
    """No VOMS server can run here, so voms-proxy-init itself is untested. This checks the plumbing:
    the configured command's placeholders, verification of what it made, and a failing command."""
    cert, key = write(host(ca), tmp_path, "host")
    out = tmp_path / "x509up"
    stand_in = (
        f"{sys.executable} -m cachemgr task refresh-proxy "
        "--cert {cert} --key {key} --out {out} --valid {hours}h"
    )
    made = refresh(cert, key, out, "--voms-command", stand_in)
    assert made.returncode == 0, made.stderr
    assert (
        x509.load_pem_x509_certificates(out.read_bytes())[1].subject
        == x509.load_pem_x509_certificate(cert.read_bytes()).subject
    )
    before = snapshot(out)
    failed = refresh(cert, key, out, "--min-remaining", "100h", "--voms-command", "false")
    assert failed.returncode == 1 and "voms command exited 1" in failed.stderr
    other = write(host(throwaway.make_ca("other CA")), tmp_path, "other")
    foreign = refresh(
        cert,
        key,
        out,
        "--min-remaining",
        "100h",
        "--voms-command",
        stand_in.replace("{cert}", str(other[0])).replace("{key}", str(other[1])),
    )
    assert foreign.returncode == 1 and "host certificate" in foreign.stderr and "left as it was" in foreign.stderr
    # A real proxy maker of the same kind: XRootD's xrdgsiproxy, whose proxies are SHA-1.
    cadir = tmp_path / "certificates"
    throwaway.install_ca(ca, cadir)
    xrdgsiproxy = f"xrdgsiproxy init -certdir {cadir} -cert {{cert}} -key {{key}} -out {{out}} -valid {{hours}}:00"
    sha1 = refresh(cert, key, out, "--min-remaining", "100h", "--voms-command", xrdgsiproxy)
    assert sha1.returncode == 1 and "signed with SHA1, which OpenSSL 3 clients (curl) refuse" in sha1.stderr
    assert snapshot(out) == before
