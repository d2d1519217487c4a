"""gridmap from a real slapd, a real CVMFS-style catalog over HTTP, and plain grid-mapfiles; merged with
local overrides, quoted right, atomic, and guarded against shrinking."""

from __future__ import annotations

import hashlib
import sqlite3
import zlib

import pytest
from support import cachemgr
from support.httpserve import serve
from support.ldapserver import person, slapd

from cachemgr.gridmap import mapfile

ALBERT = "/DC=org/DC=cilogon/C=US/O=LIGO/CN=Albert Einstein albert.einstein@ligo.org"
EMMY = '/DC=org/DC=cilogon/C=US/O=LIGO/CN=Emmy "E." Noether \\ emmy@ligo.org'
OUTSIDER = "/DC=org/DC=cilogon/C=US/O=Elsewhere/CN=Not A Member"


def gridmap(source, out, *extra):
    return cachemgr("task", "gridmap", "--source", source, "--out", str(out), "--source-timeout", "5", *extra)


def test_ldap_members_with_quoting(tmp_path):
    people = [
        person("albert", [ALBERT]),
        person("emmy", [EMMY]),
        person("outsider", [OUTSIDER], member=False),
        person("nocert", []),
    ]
    out = tmp_path / "grid-mapfile"
    with slapd(tmp_path / "ldap", people) as (url, _):
        result = gridmap(url, out)
    assert result.returncode == 0, result.stderr
    assert mapfile.parse(out.read_text(), "out") == {ALBERT: "ligo", EMMY: "ligo"}
    assert '"/DC=org/DC=cilogon/C=US/O=LIGO/CN=Emmy \\"E.\\" Noether \\\\ emmy@ligo.org" ligo\n' in out.read_text()


def test_ldap_down_keeps_the_old_file(tmp_path):
    out = tmp_path / "grid-mapfile"
    with slapd(tmp_path / "ldap", [person("albert", [ALBERT])]) as (url, _):
        assert gridmap(url, out).returncode == 0
    before = out.read_bytes()
    result = gridmap(url, out)  # slapd is gone
    assert result.returncode == 1 and url in result.stderr and "left as it was" in result.stderr
    assert out.read_bytes() == before


def cvmfs_repo(root, dns):
    """A repository as a CVMFS stratum serves it: .cvmfspublished naming a zlib-compressed SQLite catalog."""
    db = root / "catalog.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE properties (key TEXT, value TEXT)")
        conn.execute("INSERT INTO properties VALUES ('voms_authz', ?)", ("%ligo:/osg/ligo\n" + "\n".join(dns),))
    conn.close()
    data = zlib.compress(db.read_bytes())
    digest = hashlib.sha1(data).hexdigest()
    repo = root / "cvmfs" / "ligo.example.org"
    (repo / "data" / digest[:2]).mkdir(parents=True)
    (repo / "data" / digest[:2] / f"{digest[2:]}C").write_bytes(data)
    (repo / ".cvmfspublished").write_text(f"C{digest}\nRligo.example.org\nS42\n--\nsignature\n")


def test_cvmfs_catalog(tmp_path):
    cvmfs_repo(tmp_path, [ALBERT, EMMY])
    out = tmp_path / "grid-mapfile"
    with serve(tmp_path) as server:
        result = gridmap(f"cvmfs+{server.url}/cvmfs/ligo.example.org", out, "--account", "ligo")
    assert result.returncode == 0, result.stderr
    assert mapfile.parse(out.read_text(), "out") == {ALBERT: "ligo", EMMY: "ligo"}


def test_cvmfs_bad_catalog_keeps_the_old_file(tmp_path):
    cvmfs_repo(tmp_path, [ALBERT])
    out = tmp_path / "grid-mapfile"
    with serve(tmp_path) as server:
        url = f"cvmfs+{server.url}/cvmfs/ligo.example.org"
        assert gridmap(url, out).returncode == 0
        before = out.read_bytes()
        for catalog in (tmp_path / "cvmfs").rglob("*C"):
            catalog.write_bytes(b"not zlib")
        result = gridmap(url, out)
    assert result.returncode == 1 and "not zlib data" in result.stderr
    assert out.read_bytes() == before


def test_grid_mapfile_over_http_and_file_with_local_overrides_winning(tmp_path):
    (tmp_path / "topology").write_text(mapfile.format_entries({ALBERT: "ligo", EMMY: "ligo", OUTSIDER: "other"}))
    out = tmp_path / "grid-mapfile"
    (tmp_path / "grid-mapfile.local").write_text(f'"{OUTSIDER}" ligo\n"/DC=org/CN=Local Admin" admin\n')
    with serve(tmp_path) as server:
        by_http = gridmap(f"{server.url}/topology", out)
    assert by_http.returncode == 0, by_http.stderr
    assert mapfile.parse(out.read_text(), "out") == {
        ALBERT: "ligo",
        EMMY: "ligo",
        OUTSIDER: "ligo",
        "/DC=org/CN=Local Admin": "admin",
    }
    by_file = gridmap(f"file://{tmp_path}/topology", out)
    assert by_file.returncode == 0 and "up to date" in by_file.stdout


@pytest.mark.parametrize(
    ("kept", "force", "ok"), [(0, False, False), (1, False, False), (3, False, True), (1, True, True), (0, True, True)]
)
def test_shrink_guard(tmp_path, kept, force, ok):
    everyone = {f"/DC=org/CN=Reader {i}": "ligo" for i in range(5)}
    out = tmp_path / "grid-mapfile"
    out.write_text(mapfile.format_entries(everyone))
    before = out.read_bytes()
    (tmp_path / "source").write_text(mapfile.format_entries(dict(list(everyone.items())[:kept])))
    result = gridmap(f"file://{tmp_path}/source", out, "--max-shrink", "0.5", *(["--force"] if force else []))
    assert (result.returncode == 0) == ok, result.stderr
    if not ok:
        assert "--force" in result.stderr and out.read_bytes() == before
    else:
        assert len(mapfile.parse(out.read_text(), "out")) == kept


def test_bad_source_line_names_source_and_line(tmp_path):
    (tmp_path / "source").write_text(f'"{ALBERT}" ligo\nthis is not an entry\n')
    result = gridmap(f"file://{tmp_path}/source", tmp_path / "out")
    assert result.returncode == 1 and f"file://{tmp_path}/source:2: not a grid-mapfile line" in result.stderr
    assert not (tmp_path / "out").exists()


def test_without_a_source_the_local_entries_are_the_grid_mapfile(tmp_path):
    out = tmp_path / "grid-mapfile"
    out.write_text(f'"{ALBERT}" ligo\n"/DC=org/CN=Dropped" ligo\n')
    (tmp_path / "grid-mapfile.local").write_text(f'"{ALBERT}" albert\n')
    result = cachemgr("task", "gridmap", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert mapfile.parse(out.read_text(), "out") == {ALBERT: "albert"}  # the values dropped the other DN
    bad = tmp_path / "grid-mapfile.local"
    bad.write_text("not an entry\n")
    result = cachemgr("task", "gridmap", "--out", str(out))
    assert result.returncode == 1 and f"{bad}:1" in result.stderr
    assert mapfile.parse(out.read_text(), "out") == {ALBERT: "albert"}
