"""The `local` node's authenticated instance under real xrootd: GSI, HTTPS client certificates, SciTokens.

A test CA (the sandbox's) signs the host and the readers; nothing touches the system trust store. The
protected reader is the DN the node's values list, so the rendered grid-mapfile.local, Authfile-auth,
scitokens.cfg and xrootd-auth.cfg are what is proven here.
"""

from __future__ import annotations

import os
import pwd
import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import EXAMPLE
from support.clients import curl, xrdcp
from support.origin import serving
from support.tokens import TokenIssuer, prefill_keycache

from cachemgr.credentials import throwaway
from cachemgr.credentials.throwaway import Reader, write_reader
from cachemgr.local import sandbox
from cachemgr.local.xrootd.origin import OriginServer
from cachemgr.render.site import load_nodes

pytestmark = pytest.mark.usefixtures("xrootd_installed")

SECRET, PUBLIC = b"ligo only\n", b"anyone\n"
FILES = {"/user/ligo/secret.txt": SECRET, "/public/file.txt": PUBLIC}
ISSUER = "https://tokens.example.org/ligo"
AUDIENCE = "https://cache.example.org"


@dataclass
class AuthNode:
    box: sandbox.Sandbox
    mapped: Reader  # the DN the node's values map to account ligo
    unmapped: Reader  # same CA, in no grid-mapfile
    stranger: Reader  # a CA the cache does not trust
    issuer: TokenIssuer

    @property
    def cadir(self) -> Path:
        return Path(self.box.values["auth.cadir"])

    @property
    def cacert(self) -> Path:
        return next(self.cadir.glob("*.0"))

    def root(self, path: str) -> str:
        return f"root://localhost:{self.box.values['ports.auth']}/{path}"

    def https(self, path: str) -> str:
        return f"https://localhost:{self.box.values['ports.auth']}{path}"

    def log(self) -> str:
        """The auth instance's log: why xrootd let someone in or not."""
        return self.box.log("xrootd", "auth").read_text(errors="replace")


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthNode]:
    with serving(FILES) as up:
        yield from _node(up, tmp_path_factory)


def _node(up: OriginServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthNode]:
    (base,) = load_nodes(EXAMPLE, ["local"])
    # The node's protected namespace as its values have it, plus a token issuer for it.
    protected = [
        {**ns.model_dump(exclude_none=True), "issuers": [{"url": ISSUER, "audience": [AUDIENCE]}]}
        for ns in base["namespaces.protected"]
    ]
    # Not under pytest's tmp dir: it is root-only, and xrootd runs as the xrootd user.
    root = Path(tempfile.mkdtemp(prefix="cachemgr-test-auth-"))
    box = sandbox.create(
        EXAMPLE,
        "local",
        root,
        origin=up.address,
        extra={"namespaces.protected": protected},
    )
    saved = os.environ.get("XDG_CACHE_HOME")
    try:
        assert box.ca is not None
        clients = tmp_path_factory.mktemp("clients")
        (dn,) = base["namespaces.protected"][0].dns
        mapped = write_reader(throwaway.issue(box.ca, dn, host=False), clients, "mapped")
        unmapped = write_reader(
            throwaway.issue(box.ca, "/DC=org/DC=example/O=Nobody/CN=Not Mapped", host=False), clients, "unmapped"
        )
        # The mapped reader's very DN, from a CA the cache does not trust: the grid-mapfile must not help it.
        stranger = write_reader(throwaway.issue(throwaway.make_ca("unknown CA"), dn, host=False), clients, "stranger")
        issuer = TokenIssuer(ISSUER)
        unknown = TokenIssuer("https://unknown.example.org")
        # scitokens-cpp reads $XDG_CACHE_HOME, else the xrootd user's passwd home (shared, and HOME is /root
        # after -R): a key cache of our own, owned by the xrootd user, keeps the test to itself.
        user = pwd.getpwnam(box.values["xrootd.user"])
        prefill_keycache(root / "xdg-cache", [issuer, unknown], user.pw_uid, user.pw_gid)
        os.environ["XDG_CACHE_HOME"] = str(root / "xdg-cache")
        box.start_daemons(isolate=False)
        yield AuthNode(box, mapped, unmapped, stranger, issuer)
    finally:
        if saved is None:
            os.environ.pop("XDG_CACHE_HOME", None)
        else:
            os.environ["XDG_CACHE_HOME"] = saved
        sandbox.remove(box)


def subject_hash(cert: Path) -> str:
    return subprocess.run(
        ["openssl", "x509", "-noout", "-subject_hash", "-in", str(cert)], capture_output=True, text=True, check=True
    ).stdout.strip()


# --- xroot / GSI ---------------------------------------------------------------------------------------


def test_gsi_mapped_user_reads_the_protected_namespace(node: AuthNode):
    for proxy in (True, False):  # a SHA-256 RFC 3820 proxy, and the plain user cert
        result = xrdcp(node.root("/user/ligo/secret.txt"), cadir=node.cadir, reader=node.mapped, proxy=proxy)
        assert result.returncode == 0 and result.stdout == SECRET, result.stderr
    assert re.search(r"XrootdXeq: .* login as ligo$", node.log(), re.M)  # the grid-mapfile account, not the DN


def test_gsi_unmapped_user_is_refused_there_but_reads_public_paths(node: AuthNode):
    refused = xrdcp(node.root("/user/ligo/secret.txt"), cadir=node.cadir, reader=node.unmapped)
    assert refused.returncode != 0 and SECRET not in refused.stdout
    assert b"[3010]" in refused.stderr, refused.stderr  # kXR_NotAuthorized: logged in, then refused
    unmapped = rf"XrootdXeq: .* login as {subject_hash(node.unmapped.cert)}\.0$"  # no account: its DN hash
    assert re.search(unmapped, node.log(), re.M)
    public = xrdcp(node.root("/public/file.txt"), cadir=node.cadir, reader=node.unmapped)
    assert public.returncode == 0 and public.stdout == PUBLIC, public.stderr


def test_gsi_cert_from_an_unknown_ca_is_refused(node: AuthNode):
    for path in ("/user/ligo/secret.txt", "/public/file.txt"):
        result = xrdcp(node.root(path), cadir=node.cadir, reader=node.stranger)
        assert result.returncode != 0 and not result.stdout, result.stderr
        assert b"[3010]" not in result.stderr, "refused at login, not by the authfile"
    assert "unknown CA: cannot verify client credentials" in node.log()


# --- HTTPS with client certificates ---------------------------------------------------------------------


def test_https_mapped_user_reads_the_protected_namespace(node: AuthNode):
    for cert, key in ((node.mapped.cert, node.mapped.key), (node.mapped.proxy, node.mapped.proxy)):
        code, body = curl(node.https("/user/ligo/secret.txt"), cacert=node.cacert, cert=cert, key=key)
        assert (code, body) == (200, SECRET)
    assert "XrootdBridge: ligo." in node.log()  # http.gridmap mapped the DN (and the proxy's issuer DN)


def test_https_unmapped_user_is_refused_there_but_reads_public_paths(node: AuthNode):
    auth = {"cacert": node.cacert, "cert": node.unmapped.cert, "key": node.unmapped.key}
    assert curl(node.https("/user/ligo/secret.txt"), **auth)[0] == 403
    assert curl(node.https("/public/file.txt"), **auth) == (200, PUBLIC)
    assert curl(node.https("/user/ligo/secret.txt"), cacert=node.cacert)[0] == 403  # no certificate at all


def test_https_cert_from_an_unknown_ca_is_refused(node: AuthNode):
    auth = {"cacert": node.cacert, "cert": node.stranger.cert, "key": node.stranger.key}
    code, body = curl(node.https("/user/ligo/secret.txt"), **auth)
    assert code == 0 and SECRET not in body  # refused in the TLS handshake: no HTTP answer at all
    assert "Failing cert issuer=/O=cachemgr/CN=unknown CA" in node.log()


# --- SciTokens ------------------------------------------------------------------------------------------


def test_valid_token_reads_the_protected_namespace(node: AuthNode):
    token = node.issuer.token("read:/", AUDIENCE)
    assert curl(node.https("/user/ligo/secret.txt"), cacert=node.cacert, token=token) == (200, SECRET)


def test_bad_tokens_are_refused(node: AuthNode):
    wrong_key = TokenIssuer(ISSUER, kid=node.issuer.kid)  # same issuer and key id, another key
    unknown = TokenIssuer("https://unknown.example.org")  # its keys are cached: refused for the issuer alone
    # token, and what scitokens-cpp logs when it rejects it (an out-of-scope token is valid, it just grants
    # nothing under this path: the authfile then refuses the anonymous reader)
    tokens = {
        "wrong audience": (node.issuer.token("read:/", "https://elsewhere.example.org"), "'aud' claim verification"),
        "expired": (node.issuer.token("read:/", AUDIENCE, lifetime=-30), "token expired"),
        "wrong key": (wrong_key.token("read:/", AUDIENCE), "Invalid signature"),
        "unknown issuer": (unknown.token("read:/", AUDIENCE), "not in list of allowed issuers"),
        "out of scope": (node.issuer.token("read:/other", AUDIENCE), "deny  *@? read /user/ligo/secret.txt"),
    }
    for why, (token, logged) in tokens.items():
        code, body = curl(node.https("/user/ligo/secret.txt"), cacert=node.cacert, token=token)
        assert code == 403 and SECRET not in body, why
        assert logged in node.log(), why


# --- the unauthenticated instance -----------------------------------------------------------------------


def test_noauth_instance_refuses_the_protected_namespace(node: AuthNode):
    v = node.box.values
    http = f"http://127.0.0.1:{v['ports.http']}"
    assert curl(f"{http}/user/ligo/secret.txt", cacert=node.cacert)[0] == 403
    assert curl(f"{http}/public/file.txt", cacert=node.cacert) == (200, PUBLIC)
    # Even a token valid on the auth instance opens nothing here: the noauth instance has no token library.
    token = node.issuer.token("read:/", AUDIENCE)
    assert curl(f"{http}/user/ligo/secret.txt", cacert=node.cacert, token=token)[0] == 403
    refused = xrdcp(f"root://127.0.0.1:{v['ports.xroot']}//user/ligo/secret.txt", cadir=node.cadir, reader=node.mapped)
    assert refused.returncode != 0 and SECRET not in refused.stdout
