"""The clients a reader runs, xrdcp and curl: bounded in time, and with a test CA and a reader's credentials
for the authenticated instance (GSI over xroot, HTTPS with client certificates or a token)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import NamedTuple

from cachemgr.credentials.throwaway import Reader

# curl's --max-time, and over GSI xrdcp's request timeout (a refused login would be retried for minutes).
CLIENT_TIMEOUT = 30


def xrdcp(
    url: str, dest: Path | None = None, *, cadir: Path | None = None, reader: Reader | None = None, proxy: bool = True
) -> subprocess.CompletedProcess[bytes]:
    """Copy url to dest, or with no dest to stdout (.stdout, bytes).

    With cadir: over GSI, trusting only that CA dir, as reader (its proxy, or with proxy=False its cert and key
    as they are), one connection attempt and CLIENT_TIMEOUT for each request.
    """
    cmd = ["xrdcp", "--force", "--silent", url, str(dest) if dest else "-"]
    if cadir is None:
        # xrdcp retries a dead port for ~2 min: bound it.
        return subprocess.run(cmd, capture_output=True, timeout=60)
    env = {
        **os.environ,
        "X509_CERT_DIR": str(cadir),
        "XRD_CONNECTIONRETRY": "1",
        "XRD_REQUESTTIMEOUT": str(CLIENT_TIMEOUT),
    }
    if reader is not None and proxy:
        env.update(X509_USER_PROXY=str(reader.proxy), X509_USER_CERT="/nonexistent", X509_USER_KEY="/nonexistent")
    elif reader is not None:
        # Without a proxy file the GSI client wants to make one; 0 = use the cert and key as they are.
        env.update(X509_USER_PROXY="/nonexistent", X509_USER_CERT=str(reader.cert), X509_USER_KEY=str(reader.key))
        env["XrdSecGSICREATEPROXY"] = "0"
    return subprocess.run(cmd, env=env, capture_output=True, timeout=CLIENT_TIMEOUT + 10)


class Http(NamedTuple):
    status: int  # 0: no HTTP answer at all (refused, a failed TLS handshake, timed out)
    body: bytes  # b"" when written to dest; curl's own error follows when curl failed


def curl(
    url: str,
    dest: Path | None = None,
    *,
    cacert: Path | None = None,
    cert: Path | None = None,
    key: Path | None = None,
    token: str | None = None,
    byte_range: str | None = None,
) -> Http:
    """GET url (the body to dest, or returned), trusting only cacert for HTTPS; cert and key: a client certificate
    (or both a proxy file); token: a bearer token; byte_range: "first-last"."""
    cmd = ["curl", "-sS", "--max-time", str(CLIENT_TIMEOUT), "-w", "\n%{http_code}"]
    for option, value in (("-o", dest), ("--cacert", cacert), ("--cert", cert), ("--key", key), ("-r", byte_range)):
        if value is not None:
            cmd += [option, str(value)]
    if token is not None:
        cmd += ["-H", f"Authorization: Bearer {token}"]
    result = subprocess.run([*cmd, url], capture_output=True, timeout=CLIENT_TIMEOUT + 10)
    body, _, code = result.stdout.rpartition(b"\n")
    return Http(int(code or 0), body if result.returncode == 0 else body + result.stderr)
