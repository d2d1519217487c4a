"""fetch-crl: refresh the CA directory's CRLs with the real fetch-crl, verify them, install them atomically.

fetch-crl itself exits 0 when a download fails while the old CRL is still young ("retry later"), so it
runs into an empty staging directory: a CA with no fresh CRL there has failed, and says so. Each new CRL
must verify against its CA and not be older than the installed one before it replaces it. An installed
CRL past its nextUpdate is reported. (XRootD 5.5.3 does not enforce CRLs; newer servers do.)
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import subprocess
import tempfile
from pathlib import Path

from cryptography import x509 as cx509

from cachemgr.core import files
from cachemgr.core.args import duration
from cachemgr.credentials.x509 import CredentialError, load_cert, load_crl, now
from cachemgr.tasks.base import Option, TaskError, TaskSpec, auth_enabled

_SAYS = re.compile(r"^(?:ERROR|WARN|VERBOSE\(0\))\s+(.*)$")


def _load_crl(path: Path) -> cx509.CertificateRevocationList | None:
    try:
        return load_crl(path.read_bytes())
    except ValueError:
        return None


def _cas(ca_dir: Path) -> dict[cx509.Name, cx509.Certificate]:
    found: dict[cx509.Name, cx509.Certificate] = {}
    for path in sorted(ca_dir.glob("*.0")) + sorted(ca_dir.glob("*.pem")):
        try:
            cert = load_cert(path)
        except CredentialError:  # a stray file in a CA dir is not this task's business
            continue
        found.setdefault(cert.subject, cert)
    return found


def next_updates(out_dir: Path) -> dict[str, dt.datetime]:
    """Installed CRL file name -> nextUpdate."""
    result = {}
    for path in sorted(out_dir.glob("*.r[0-9]")):
        crl = _load_crl(path)
        if crl is not None and crl.next_update_utc is not None:
            result[path.name] = crl.next_update_utc
    return result


def _verify(path: Path, cas: dict[cx509.Name, cx509.Certificate], installed: Path) -> str | None:
    """Why the CRL at path must not replace `installed`, or None when it may."""
    crl = _load_crl(path)
    if crl is None:
        return f"{path.name}: not a CRL"
    ca = cas.get(crl.issuer)
    if ca is None:
        return f"{path.name}: issuer {crl.issuer.rfc4514_string()} is not a CA in the CA dir"
    if not crl.is_signature_valid(ca.public_key()):
        return f"{path.name}: signature does not verify with its CA"
    if installed.exists():
        old = _load_crl(installed)
        if old is not None and old.issuer == crl.issuer and old.last_update_utc > crl.last_update_utc:
            return f"{path.name}: older than the installed CRL"
    return None


def _why(output: str, anchor: str) -> str:
    """fetch-crl's last word on a trust anchor it got no CRL for."""
    said = [m.group(1) for line in output.splitlines() if anchor in line and (m := _SAYS.match(line.strip()))]
    return f"no CRL for {anchor}: {said[-1] if said else 'fetch-crl gave no reason'}"


def run(args: argparse.Namespace) -> str:
    out_dir: Path = args.out_dir or args.ca_dir
    urls = sorted(p.name.split(".")[0] for p in args.ca_dir.glob("*.crl_url"))
    if not urls:
        return f"no *.crl_url files in {args.ca_dir}: nothing to fetch"
    cas = _cas(args.ca_dir)
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        staging, state = Path(tmp) / "out", Path(tmp) / "state"
        staging.mkdir()
        state.mkdir()
        (Path(tmp) / "empty.conf").write_text("")
        cmd = [
            "fetch-crl",
            "-v",
            "-c",
            f"{tmp}/empty.conf",
            "-l",
            str(args.ca_dir),
            "-o",
            str(staging),
            "-s",
            str(state),
            "-T",
            str(args.download_timeout),
            "-p",
            str(args.parallel),
        ]
        try:
            limit = args.download_timeout * (len(urls) + 2) + 30
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
        except FileNotFoundError:
            raise TaskError("fetch-crl is not installed (Debian package fetch-crl)") from None
        except subprocess.TimeoutExpired:
            raise TaskError(f"fetch-crl did not finish; CRLs in {out_dir} left as they were") from None
        staged = sorted(staging.iterdir())
        fetched = {p.name.split(".")[0] for p in staged}
        problems += [_why(result.stdout + result.stderr, h) for h in urls if h not in fetched]
        installed = []
        for path in staged:
            reason = _verify(path, cas, out_dir / path.name)
            if reason:
                problems.append(reason)
            elif files.install(out_dir / path.name, path.read_bytes(), 0o644):
                installed.append(path.name)
    t, updates = now(), next_updates(out_dir)
    expired = {name: when for name, when in updates.items() if when <= t}
    problems += [f"{name} expired at {when:%Y-%m-%d %H:%M} UTC" for name, when in sorted(expired.items())]
    if problems:
        raise TaskError("; ".join(problems) + f" (other CRLs in {out_dir} kept)")
    soonest = min(updates.values(), default=None)
    due = f", next update due {soonest:%Y-%m-%d %H:%M} UTC" if soonest else ""
    return f"{len(installed)} CRL(s) updated, {len(urls)} CA(s) current{due}"


SPEC = TaskSpec(
    name="fetch-crl",
    start_order=20,
    doc=__doc__,
    run=run,
    when=auth_enabled,
    options=(
        Option("--ca-dir", "auth.cadir", type=Path, help="CA certs and *.crl_url files"),
        Option("--out-dir", type=Path, help="where CRLs go (default: the CA dir)"),
        Option("--download-timeout", "crl.download_timeout", type=duration, help="per download (fetch-crl -T)"),
        Option("--parallel", "crl.parallel", type=int, help="downloads at once (fetch-crl -p)"),
    ),
)
