"""Host certificate and proxy expiry, and CRL freshness per CA, at scrape time.

A CA dir holds a hundred or so CRLs, some large: each is parsed again only when its (mtime, size) changed.

An expired host cert or a stale CRL breaks the authenticated instance silently: these let alerts fire first.
A certificate file missing or not parsing, or a CRL file not parsing, is such news too, not a failure of this
collector: cachemgr_certificate_readable and cachemgr_crl_bad_files say which, and the rest is still reported.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from prometheus_client.core import Metric

from cachemgr.credentials.x509 import PEM_CRL, CredentialError, load_cert, load_crl
from cachemgr.stats.collectors import Collector, Family
from cachemgr.stats.settings import Settings

NOT_A_CRL, BAD = "not a CRL", "bad"
Seen = tuple[float, float | None] | str  # (lastUpdate, nextUpdate), NOT_A_CRL or BAD

CERT = ("kind", "path")
NOT_AFTER = Family("cachemgr_certificate_not_after_timestamp_seconds", "When the certificate expires.", CERT)
READABLE = Family("cachemgr_certificate_readable", "1 when the certificate file exists and parses.", CERT)
NEXT_UPDATE = Family("cachemgr_crl_next_update_timestamp_seconds", "When the CA's CRL must be replaced.", ("file",))
LAST_UPDATE = Family("cachemgr_crl_last_update_timestamp_seconds", "When the CA issued its CRL.", ("file",))
BAD_CRLS = Family("cachemgr_crl_bad_files", "CRL files in the CA dir that do not parse.")


def _read_crl(path: Path) -> Seen:
    try:
        data = path.read_bytes()
        if path.suffix == ".pem" and PEM_CRL not in data:
            return NOT_A_CRL  # a CA certificate
        crl = load_crl(data)
    except (OSError, ValueError):
        return BAD
    after = crl.next_update_utc
    return crl.last_update_utc.timestamp(), after.timestamp() if after else None


class CredentialsCollector(Collector):
    FAMILIES = (NOT_AFTER, READABLE, NEXT_UPDATE, LAST_UPDATE, BAD_CRLS)

    def __init__(self, certs: dict[str, Path], ca_dir: Path | None):
        """certs: kind ("host", "proxy") -> PEM file (a proxy's first certificate is the proxy itself)."""
        self.certs = certs
        self.ca_dir = ca_dir
        self._crls_seen: dict[Path, tuple[tuple[int, int], Seen]] = {}  # path -> ((mtime_ns, size), what it is)

    @classmethod
    def from_settings(cls, settings: Settings) -> CredentialsCollector:
        certs = {"host": settings.host_cert, "proxy": settings.proxy}
        return cls({kind: path for kind, path in certs.items() if path is not None}, settings.ca_dir)

    def collect(self) -> Iterator[Metric]:
        not_after, readable = NOT_AFTER(), READABLE()
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
        next_update, last_update = NEXT_UPDATE(), LAST_UPDATE()
        bad = 0
        seen = {}
        for path in sorted([*ca_dir.glob("*.r[0-9]"), *ca_dir.glob("*.pem")]):
            try:
                st = path.stat()
            except OSError:
                continue  # replaced between the glob and the stat
            key = (st.st_mtime_ns, st.st_size)
            known = self._crls_seen.get(path)
            what = known[1] if known and known[0] == key else _read_crl(path)
            seen[path] = (key, what)
            if what == BAD:
                bad += 1
            elif isinstance(what, tuple):
                last, after = what
                if after is not None:
                    next_update.add_metric([path.name], after)
                last_update.add_metric([path.name], last)
        self._crls_seen = seen  # files gone from the dir drop out
        yield next_update
        yield last_update
        yield BAD_CRLS(bad)
