"""A real slapd on 127.0.0.1 with LIGO's people tree (gridX509subject, isMemberOf), for tests."""

from __future__ import annotations

import contextlib
import socket
import subprocess
from pathlib import Path

from cachemgr.local.xrootd.process import free_port
from support.wait import eventually

SCHEMA = """\
attributetype ( 1.3.6.1.4.1.99999.1.1 NAME 'gridX509subject' EQUALITY caseExactMatch
  SUBSTR caseExactSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )
attributetype ( 1.3.6.1.4.1.99999.1.2 NAME 'isMemberOf' EQUALITY caseExactMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )
objectclass ( 1.3.6.1.4.1.99999.2.1 NAME 'ligoPerson' SUP top AUXILIARY MAY ( gridX509subject $ isMemberOf ) )
"""

CONFIG = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include {root}/ligo.schema
pidfile {root}/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
suffix "dc=ligo,dc=org"
rootdn "cn=admin,dc=ligo,dc=org"
rootpw not-a-secret
directory {root}/db
access to * by * read
"""

MEMBERS = "Communities:LSCVirgoLIGOGroupMembers"


def person(uid: str, dns: list[str], member: bool = True) -> str:
    lines = [
        f"dn: uid={uid},ou=people,dc=ligo,dc=org",
        "objectClass: inetOrgPerson",
        "objectClass: ligoPerson",
        f"uid: {uid}",
        f"cn: {uid}",
        f"sn: {uid}",
    ]
    if member:
        lines.append(f"isMemberOf: {MEMBERS}")
    lines += [f"gridX509subject: {dn}" for dn in dns]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def slapd(root: Path, people: list[str]):
    """Run slapd with the given person entries; yields its ldap:// URL; stops it after."""
    (root / "db").mkdir(parents=True)
    (root / "ligo.schema").write_text(SCHEMA)
    (root / "slapd.conf").write_text(CONFIG.format(root=root))
    base = (
        "dn: dc=ligo,dc=org\nobjectClass: dcObject\nobjectClass: organization\no: LIGO\ndc: ligo\n\n"
        "dn: ou=people,dc=ligo,dc=org\nobjectClass: organizationalUnit\nou: people\n"
    )
    (root / "entries.ldif").write_text("\n".join([base, *people]))
    subprocess.run(
        ["slapadd", "-f", str(root / "slapd.conf"), "-l", str(root / "entries.ldif")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    port = free_port()
    proc = subprocess.Popen(
        ["slapd", "-d", "0", "-f", str(root / "slapd.conf"), "-h", f"ldap://127.0.0.1:{port}/"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def listening() -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
        assert proc.poll() is None, "slapd exited"
        return False

    try:
        eventually(listening, 20, interval=0.1, message="slapd did not listen")
        yield f"ldap://127.0.0.1:{port}", proc
    finally:
        proc.terminate()
        proc.wait(10)
