"""Test certificates: a CA and host certs that are valid, expired, not yet valid or short-lived."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from cachemgr.credentials import throwaway
from cachemgr.credentials.throwaway import Issued

NOW = dt.datetime.now(dt.UTC)


def host(ca: Issued, *, days_left: float = 30, starts_in: float = 0, name: str = "cache.example.org") -> Issued:
    end = NOW + dt.timedelta(days=days_left)
    start = min(NOW + dt.timedelta(days=starts_in) - dt.timedelta(hours=1), end - dt.timedelta(days=1))
    return throwaway.issue(ca, name, host=True, not_before=start, not_after=end)


def write(issued: Issued, directory: Path, stem: str) -> tuple[Path, Path]:
    cert, key = directory / f"{stem}cert.pem", directory / f"{stem}key.pem"
    issued.write(cert, key)
    return cert, key


def ca_file(ca: Issued, directory: Path) -> Path:
    path = directory / "ca.pem"
    path.write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
    return path


def openssl_verify(ca: Path, cert: Path, *untrusted: Path, proxy: bool = False) -> subprocess.CompletedProcess:
    cmd = ["openssl", "verify", "-CAfile", str(ca)]
    if proxy:
        cmd.append("-allow_proxy_certs")
    for path in untrusted:
        cmd += ["-untrusted", str(path)]
    return subprocess.run([*cmd, str(cert)], capture_output=True, text=True, timeout=30)


def snapshot(*paths: Path) -> dict[Path, tuple[bytes, int, int]]:
    """Bytes, mode and owner of each path: what a failed task must leave as it was."""
    return {p: (p.read_bytes(), p.stat().st_mode, p.stat().st_uid) for p in paths}
