"""What the authenticated instance needs on this node, checked before xrootd gets to report it badly.

A host key with the wrong owner or mode makes 5.5.3 fail with "unable to generate ca cert hash list!"
(the cause only shows at -d:3); a missing CA dir, grid-mapfile or scitokens config fails just as opaquely.
"""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

from cachemgr.core.pod import Runtime

KEY_MODES = (0o600, 0o400)  # GSI accepts up to 0640, TLS only these


def auth_problems(rt: Runtime) -> list[str]:
    auth = rt.auth
    if not auth.enabled:
        return []
    problems = []
    key = Path(auth.xrd_dir) / "xrdkey.pem"
    cert = Path(auth.xrd_dir) / "xrdcert.pem"
    for path in (cert, key):
        if not path.is_file():
            problems.append(f"{path}: missing (the fix-certs task makes it)")
    if key.is_file():
        st = key.stat()
        if stat.S_IMODE(st.st_mode) not in KEY_MODES:
            problems.append(f"{key}: mode {stat.S_IMODE(st.st_mode):04o}; xrootd needs 0600 or 0400")
        if os.geteuid() == 0 and st.st_uid != pwd.getpwnam(rt.user).pw_uid:
            problems.append(f"{key}: owned by uid {st.st_uid}; xrootd runs as {rt.user} and must own it")
    cadir = Path(auth.cadir)
    if not cadir.is_dir():
        problems.append(f"{cadir}: no CA directory")
    elif not any(cadir.glob("*.0")):
        problems.append(f"{cadir}: no CA certificates (<hash>.0)")
    for named in (auth.gridmap, auth.scitokens):
        if named and not Path(named).is_file():
            problems.append(f"{named}: missing, and the auth config names it")
    return problems
