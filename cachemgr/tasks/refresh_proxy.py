"""refresh-proxy: the RFC 3820 proxy the cache presents to a protected origin, made from the host cert.

A proxy never outlives its issuer: an expired host cert, or one ending before the asked lifetime, is
refused and the old proxy kept, so the failure shows in the task's metrics instead of as silent
`[3030] invalid exchange` errors on cache misses.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from cachemgr.core import files
from cachemgr.core.args import duration
from cachemgr.credentials import x509
from cachemgr.tasks.base import Option, TaskError, TaskSpec

if TYPE_CHECKING:
    from cachemgr.values.resolve import NodeValues


def _remaining(path: Path, issuer: x509.x509.Certificate) -> dt.timedelta | None:
    """Time left on the current proxy, or None when there is no usable one."""
    try:
        proxy = x509.check_proxy(path.read_bytes(), issuer, str(path))
    except (OSError, x509.CredentialError):
        return None
    return proxy.not_valid_after_utc - x509.now()


def _voms_proxy(command: str, args: argparse.Namespace, lifetime: dt.timedelta) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "proxy"
        argv = [
            part.format(cert=args.cert, key=args.key, out=out, hours=int(lifetime.total_seconds() // 3600))
            for part in shlex.split(command)
        ]
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise TaskError(f"voms command failed: {e}") from None
        if result.returncode != 0 or not out.exists():
            last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise TaskError(f"voms command exited {result.returncode}: {last[0]}")
        return out.read_bytes()


def run(args: argparse.Namespace) -> str:
    lifetime = dt.timedelta(seconds=args.valid)
    try:
        cert = x509.load_cert(args.cert)
        key = x509.load_key(args.key)
        x509.check_pair(cert, key, args.cert, args.key)
        if cert.not_valid_after_utc < x509.now() + lifetime:
            raise x509.CredentialError(
                f"{args.cert}: expires {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC, before a "
                f"{args.valid // 3600}h proxy would"
            )
    except x509.CredentialError as e:
        raise TaskError(f"{e}; {args.out} left as it was") from None
    left = _remaining(args.out, cert)
    if left is not None and left.total_seconds() >= args.min_remaining:
        return f"proxy valid for {left.total_seconds() / 3600:.1f}h more: nothing to do"
    data = _voms_proxy(args.voms_command, args, lifetime) if args.voms_command else x509.make_proxy(cert, key, lifetime)
    try:
        proxy = x509.check_proxy(data, cert, "new proxy")
    except x509.CredentialError as e:
        raise TaskError(f"{e}; {args.out} left as it was") from None
    files.install(args.out, data, 0o600, args.owner)
    return f"new proxy in {args.out}, valid until {proxy.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"


def _uses_proxy(v: NodeValues) -> bool:
    return v["auth.enabled"] and v["auth.origin_credential"] == "proxy"


SPEC = TaskSpec(
    name="refresh-proxy",
    start_order=30,
    doc=__doc__,
    run=run,
    when=_uses_proxy,
    needs_host_cert=True,
    options=(
        Option("--cert", "auth.hostcert", type=Path),
        Option("--key", "auth.hostkey", type=Path),
        Option("--out", "auth.proxy", type=Path),
        Option("--valid", "auth.proxy_lifetime", type=duration, help="e.g. 48h"),
        Option(
            "--min-remaining",
            "auth.proxy_min_remaining",
            type=duration,
            help="make a new proxy when the current one has less left (e.g. 24h)",
        ),
        Option("--owner", "xrootd.user"),
        Option(
            "--voms-command",
            "auth.voms_command",
            help="make the proxy with this command ({cert} {key} {out} {hours}) for VOMS attributes",
        ),
    ),
)
