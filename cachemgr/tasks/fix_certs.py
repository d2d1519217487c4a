"""fix-certs: copy the mounted host cert and key to the files xrootd reads, owned by the xrootd user.

GSI refuses a group- or world-readable key and the mounted Secret is owned by root, hence the copy.
A key that does not match the cert, or a cert that is expired or not yet valid, is refused: the copies
in use stay as they are.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cachemgr.core import files
from cachemgr.credentials import x509
from cachemgr.tasks.base import Option, TaskError, TaskSpec, auth_enabled


def run(args: argparse.Namespace) -> str:
    try:
        cert = x509.load_cert(args.hostcert)
        key = x509.load_key(args.hostkey)
        x509.check_pair(cert, key, args.hostcert, args.hostkey)
    except x509.CredentialError as e:
        raise TaskError(f"{e}; {args.dest_dir} left as it was") from None
    changed = [
        name
        for name, data, mode in (
            ("xrdcert.pem", x509.cert_pem(cert), 0o644),
            ("xrdkey.pem", x509.key_pem(key), 0o600),
        )
        if files.install(args.dest_dir / name, data, mode, args.owner)
    ]
    expires = f"cert valid until {cert.not_valid_after_utc:%Y-%m-%d}"
    return f"installed {', '.join(changed)} in {args.dest_dir} ({expires})" if changed else f"up to date ({expires})"


SPEC = TaskSpec(
    name="fix-certs",
    # First: without the host cert, what needs it is skipped.
    start_order=10,
    doc=__doc__,
    run=run,
    when=auth_enabled,
    needs_host_cert=True,
    installs_host_cert=True,
    options=(
        Option("--hostcert", "auth.hostcert", type=Path),
        Option("--hostkey", "auth.hostkey", type=Path),
        Option("--dest-dir", "auth.xrd_dir", type=Path),
        Option("--owner", "xrootd.user", help="user the copies belong to"),
    ),
)
