"""Certificates, keys, RFC 3820 proxies and CRLs: loading them, checking them, making proxies."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import NameOID

# RFC 3820 ProxyCertInfo, critical: SEQUENCE { SEQUENCE { policyLanguage id-ppl-inheritAll } }
PROXY_CERT_INFO = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.14")
INHERIT_ALL_DER = bytes.fromhex("300c300a06082b06010505071501")


class CredentialError(Exception):
    """A credential that must not be used; the message names the file and the reason."""


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def load_certs(path: Path) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except OSError as e:
        raise CredentialError(f"{path}: cannot read: {e.strerror}") from None
    except ValueError:
        raise CredentialError(f"{path}: not a PEM certificate") from None
    return certs


def load_cert(path: Path) -> x509.Certificate:
    return load_certs(path)[0]


PEM_CRL = b"-----BEGIN X509 CRL-----"


def load_crl(data: bytes) -> x509.CertificateRevocationList:
    """A CRL as fetch-crl writes it (PEM, <hash>.r0) or as some CA dirs carry it (DER); ValueError if neither."""
    return x509.load_pem_x509_crl(data) if PEM_CRL in data else x509.load_der_x509_crl(data)


def load_key(path: Path) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as e:
        raise CredentialError(f"{path}: cannot read: {e.strerror}") from None
    except (ValueError, TypeError):
        raise CredentialError(f"{path}: not an unencrypted PEM private key") from None


def key_pem(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_usage(*granted: str) -> x509.KeyUsage:
    """A KeyUsage granting only the named bits (cryptography wants every bit spelled out)."""
    bits = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    return x509.KeyUsage(**(bits | dict.fromkeys(granted, True)))


def check_pair(cert: x509.Certificate, key: PrivateKeyTypes, cert_path: Path, key_path: Path) -> None:
    """The key belongs to the cert, and the cert is valid now."""
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if cert.public_key().public_bytes(serialization.Encoding.DER, public) != key.public_key().public_bytes(
        serialization.Encoding.DER, public
    ):
        raise CredentialError(f"{key_path}: does not match the certificate {cert_path}")
    t = now()
    if cert.not_valid_before_utc > t:
        raise CredentialError(f"{cert_path}: not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    if cert.not_valid_after_utc <= t:
        raise CredentialError(f"{cert_path}: expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC")


def make_proxy(
    cert: x509.Certificate, key: PrivateKeyTypes, lifetime: dt.timedelta, start: dt.datetime | None = None
) -> bytes:
    """An RFC 3820 impersonation proxy (inheritAll), SHA-256, 2048-bit: PEM of proxy cert, its key, issuer.

    Valid from start (default: 5 minutes ago, for clock skew between cache and origin) for lifetime + 5 minutes.
    """
    proxy_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    serial = x509.random_serial_number() >> 96  # a short serial: it is also the proxy's last CN
    start = start or now() - dt.timedelta(minutes=5)
    subject = x509.Name(
        [*cert.subject.rdns, x509.RelativeDistinguishedName([x509.NameAttribute(NameOID.COMMON_NAME, str(serial))])]
    )
    proxy = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(cert.subject)
        .public_key(proxy_key.public_key())
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(minutes=5) + lifetime)
        .add_extension(x509.UnrecognizedExtension(PROXY_CERT_INFO, INHERIT_ALL_DER), critical=True)
        .add_extension(key_usage("digital_signature", "key_encipherment"), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert_pem(proxy) + key_pem(proxy_key) + cert_pem(cert)


def check_proxy(data: bytes, issuer: x509.Certificate, source: str) -> x509.Certificate:
    """A proxy file's first cert is a proxy signed by issuer and ends no later than it."""
    try:
        proxy = x509.load_pem_x509_certificates(data)[0]
        serialization.load_pem_private_key(data[data.index(b"-----BEGIN", 1) :], password=None)
    except ValueError:
        raise CredentialError(f"{source}: not a proxy file (certificate, then key)") from None
    if proxy.issuer != issuer.subject:
        raise CredentialError(f"{source}: issued by {proxy.issuer.rfc4514_string()}, not the host certificate")
    algorithm = proxy.signature_hash_algorithm
    if algorithm is None or algorithm.name in ("sha1", "md5"):  # xrdgsiproxy still signs with SHA-1
        name = algorithm.name.upper() if algorithm else "an unknown"
        raise CredentialError(f"{source}: signed with {name}, which OpenSSL 3 clients (curl) refuse; make SHA-256")
    try:
        proxy.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        raise CredentialError(f"{source}: signature does not verify with the host certificate") from None
    if proxy.not_valid_after_utc > issuer.not_valid_after_utc:
        raise CredentialError(f"{source}: outlives its issuer")
    return proxy
