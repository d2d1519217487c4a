"""Where DNs come from: LIGO's LDAP, a CVMFS repository's catalog, or a grid-mapfile at a URL."""

from __future__ import annotations

import math
import sqlite3
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from urllib.parse import urlsplit

from cachemgr.gridmap import mapfile


class SourceError(Exception):
    """The source could not be read; the message says which and why."""


@dataclass(frozen=True)
class LdapQuery:
    base: str
    filter: str
    attribute: str


def fetch(url: str, timeout: float) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read()
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise SourceError(f"{url}: {getattr(e, 'reason', e)}") from None


def ldap_dns(uri: str, query: LdapQuery, timeout: float) -> list[str]:
    """DNs in the attribute of every entry one level below base that matches the filter."""
    import ldap3
    from ldap3.core.exceptions import LDAPException

    parts = urlsplit(uri)
    seconds = max(1, math.ceil(timeout))  # ldap3 packs its socket timeouts as integers
    try:
        server = ldap3.Server(
            parts.hostname,
            port=parts.port,
            use_ssl=parts.scheme == "ldaps",
            connect_timeout=seconds,
            get_info=ldap3.NONE,
        )
        with ldap3.Connection(server, auto_bind=True, read_only=True, receive_timeout=seconds) as conn:
            conn.search(query.base, query.filter, search_scope=ldap3.LEVEL, attributes=[query.attribute])
            return [str(v) for entry in conn.entries for v in entry[query.attribute].values]
    except (LDAPException, OSError) as e:
        raise SourceError(f"{uri}: {e}") from None


def cvmfs_dns(url: str, timeout: float) -> list[str]:
    """The voms_authz property of a CVMFS repository's root catalog: one DN per line starting with /."""
    published = fetch(f"{url}/.cvmfspublished", timeout).decode(errors="replace")
    root = next((line[1:].strip() for line in published.splitlines() if line.startswith("C")), None)
    if not root:
        raise SourceError(f"{url}/.cvmfspublished: no root catalog hash (C line)")
    try:
        catalog = zlib.decompress(fetch(f"{url}/data/{root[:2]}/{root[2:]}C", timeout))
    except zlib.error as e:
        raise SourceError(f"{url}: root catalog {root} is not zlib data: {e}") from None
    with tempfile.NamedTemporaryFile(suffix=".sqlite") as db:
        db.write(catalog)
        db.flush()
        try:
            with sqlite3.connect(db.name) as conn:
                row = conn.execute("SELECT value FROM properties WHERE key = 'voms_authz'").fetchone()
        except sqlite3.DatabaseError as e:
            raise SourceError(f"{url}: root catalog {root}: {e}") from None
    if row is None:
        raise SourceError(f"{url}: the catalog has no voms_authz property")
    return [line.strip() for line in str(row[0]).splitlines() if line.strip().startswith("/")]


def entries(source: str, account: str, query: LdapQuery, timeout: float) -> dict[str, str]:
    """DN -> account from any supported source."""
    scheme = urlsplit(source).scheme
    if scheme in ("ldap", "ldaps"):
        return dict.fromkeys(ldap_dns(source, query, timeout), account)
    if scheme.startswith("cvmfs+"):
        return dict.fromkeys(cvmfs_dns(source.removeprefix("cvmfs+").rstrip("/"), timeout), account)
    if scheme in ("http", "https", "file"):
        text = fetch(source, timeout).decode(errors="replace")
        try:
            return mapfile.parse(text, source)
        except mapfile.MapfileError as e:
            raise SourceError(str(e)) from None
    raise SourceError(f"{source}: unsupported source (ldap://, ldaps://, cvmfs+http(s)://, http(s)://, file://)")
