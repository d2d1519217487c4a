"""A throw-away certificate authority: for `cachemgr check`, the demo and tests, never for production."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cachemgr.credentials.x509 import key_usage, make_proxy


@dataclass(frozen=True)
class Issued:
    cert: x509.Certificate
    key: rsa.RSAPrivateKey

    def write(self, cert_path: Path, key_path: Path, uid: int = -1, gid: int = -1) -> None:
        """Cert 0644 and key 0600 (what GSI and TLS accept), optionally owned by uid:gid."""
        cert_path.parent.mkdir(parents=True, exist_ok=True)
        key_path.parent.mkdir(parents=True, exist_ok=True)
        cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        key_path.touch(mode=0o600)
        key_path.write_bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        cert_path.chmod(0o644)
        key_path.chmod(0o600)
        if uid >= 0:
            os.chown(cert_path, uid, gid)
            os.chown(key_path, uid, gid)


def _name(*parts: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in parts])


_DN_OIDS = {
    "DC": NameOID.DOMAIN_COMPONENT,
    "C": NameOID.COUNTRY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "CN": NameOID.COMMON_NAME,
}


def subject(dn: str) -> x509.Name:
    """An OpenSSL one-line DN, as grid-mapfiles write it ("/DC=org/.../CN=Someone"), as an x509.Name."""
    parts = [part.split("=", 1) for part in dn.strip("/").split("/")]
    return _name(*((_DN_OIDS[key], value) for key, value in parts))


def oneline(name: x509.Name) -> str:
    """The reverse of subject(): the DN as GSI and the grid-mapfile spell it."""
    return "".join(f"/{attr.rfc4514_attribute_name}={attr.value}" for attr in name)


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_ca(common_name: str = "cachemgr throw-away CA", days: int = 30) -> Issued:
    key = _key()
    subject = _name((NameOID.ORGANIZATION_NAME, "cachemgr"), (NameOID.COMMON_NAME, common_name))
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(key_usage("digital_signature", "key_cert_sign", "crl_sign"), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert, key)


def issue(
    ca: Issued,
    common_name: str,
    *,
    host: bool,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> Issued:
    """A host (server) or user (client) certificate signed by ca; a common_name starting with "/" is the whole DN."""
    key = _key()
    now = dt.datetime.now(dt.UTC)
    dn = (
        subject(common_name)
        if common_name.startswith("/")
        else _name((NameOID.ORGANIZATION_NAME, "cachemgr"), (NameOID.COMMON_NAME, common_name))
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(dn)
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(minutes=5))
        .not_valid_after(not_after or now + dt.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage("digital_signature", "key_encipherment"), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                if host
                else [ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
    )
    if host:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(common_name)]), critical=False)
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)


def install_ca(ca: Issued, ca_dir: Path) -> Path:
    """Add ca to an IGTF-style directory as <subject-hash>.0, the name OpenSSL and GSI look up."""
    ca_dir.mkdir(parents=True, exist_ok=True)
    pem = ca.cert.public_bytes(serialization.Encoding.PEM)
    subject_hash = (
        subprocess.run(["openssl", "x509", "-noout", "-subject_hash"], input=pem, capture_output=True, check=True)
        .stdout.decode()
        .strip()
    )
    path = ca_dir / f"{subject_hash}.0"
    path.write_bytes(pem)
    path.chmod(0o644)
    return path


@dataclass(frozen=True)
class Reader:
    """A user's cert, key and SHA-256 RFC 3820 proxy on disk (xrdgsiproxy's SHA-1 proxies fail with curl)."""

    cert: Path
    key: Path
    proxy: Path


def write_reader(issued: Issued, directory: Path, stem: str) -> Reader:
    directory.mkdir(parents=True, exist_ok=True)
    cert, key, proxy = directory / f"{stem}-cert.pem", directory / f"{stem}-key.pem", directory / f"{stem}-proxy.pem"
    issued.write(cert, key)
    proxy.touch(mode=0o600)  # GSI refuses a proxy others can read
    proxy.write_bytes(make_proxy(issued.cert, issued.key, dt.timedelta(hours=12)))
    return Reader(cert, key, proxy)
