"""Host certificate and proxy expiry, and CRL freshness per CA (read at scrape time: a few small files).

An expired host cert or a stale CRL breaks the authenticated instance silently: these let alerts fire first.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from cryptography import x509
from prometheus_client.core import GaugeMetricFamily, Metric

from cachemgr.credentials.x509 import CredentialError, load_cert

PEM_CRL = b"-----BEGIN X509 CRL-----"


def load_crl(data: bytes) -> x509.CertificateRevocationList:
    """fetch-crl writes <hash>.r0 as PEM; some CA dirs carry DER ones."""
    return x509.load_pem_x509_crl(data) if PEM_CRL in data else x509.load_der_x509_crl(data)


class CredentialsCollector:
    def __init__(self, certs: dict[str, Path], ca_dir: Path | None):
        """certs: kind ("host", "proxy") -> PEM file (a proxy's first certificate is the proxy itself)."""
        self.certs = certs
        self.ca_dir = ca_dir

    def collect(self) -> Iterator[Metric]:
        labels = ["kind", "path"]
        not_after = GaugeMetricFamily(
            "cachemgr_certificate_not_after_timestamp_seconds", "When the certificate expires.", labels=labels
        )
        readable = GaugeMetricFamily(
            "cachemgr_certificate_readable", "1 when the certificate file exists and parses.", labels=labels
        )
        for kind, path in sorted(self.certs.items()):
            try:
                cert = load_cert(path)
            except CredentialError:
                readable.add_metric([kind, str(path)], 0)
                continue
            readable.add_metric([kind, str(path)], 1)
            not_after.add_metric([kind, str(path)], cert.not_valid_after_utc.timestamp())
        yield not_after
        yield readable
        if self.ca_dir is not None:
            yield from self._crls(self.ca_dir)

    def _crls(self, ca_dir: Path) -> Iterator[Metric]:
        next_update = GaugeMetricFamily(
            "cachemgr_crl_next_update_timestamp_seconds", "When the CA's CRL must be replaced.", labels=["file"]
        )
        last_update = GaugeMetricFamily(
            "cachemgr_crl_last_update_timestamp_seconds", "When the CA issued its CRL.", labels=["file"]
        )
        bad = 0
        for path in sorted([*ca_dir.glob("*.r[0-9]"), *ca_dir.glob("*.pem")]):
            try:
                data = path.read_bytes()
                if path.suffix == ".pem" and PEM_CRL not in data:
                    continue  # a CA certificate, not a CRL
                crl = load_crl(data)
            except (OSError, ValueError):
                bad += 1
                continue
            if crl.next_update_utc is not None:
                next_update.add_metric([path.name], crl.next_update_utc.timestamp())
            last_update.add_metric([path.name], crl.last_update_utc.timestamp())
        yield next_update
        yield last_update
        yield GaugeMetricFamily("cachemgr_crl_bad_files", "CRL files in the CA dir that do not parse.", bad)
