"""SciTokens for the authenticated instance: an issuer that signs tokens, and its keys where scitokens-cpp looks."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenIssuer:
    """A SciTokens issuer: an ES256 key that signs tokens and the JWKS scitokens-cpp would fetch."""

    url: str
    kid: str = "test-key"
    key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    def jwks(self) -> dict:
        numbers = self.key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "EC",
                    "crv": "P-256",
                    "alg": "ES256",
                    "use": "sig",
                    "kid": self.kid,
                    "x": _b64(numbers.x.to_bytes(32, "big")),
                    "y": _b64(numbers.y.to_bytes(32, "big")),
                }
            ]
        }

    def token(self, scope: str, audience: str, lifetime: float = 600, **claims: object) -> str:
        """A SciTokens 2.0 token; claims override the standard ones (iss, exp, ...)."""
        now = int(time.time())
        payload = {
            "ver": "scitoken:2.0",
            "iss": self.url,
            "sub": "test-reader",
            "aud": audience,
            "scope": scope,
            "iat": now - 60,
            "nbf": now - 60,
            "exp": int(now + lifetime),
            "jti": str(uuid.uuid4()),
            **claims,
        }
        header = {"alg": "ES256", "typ": "JWT", "kid": self.kid}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
        r, s = decode_dss_signature(self.key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return f"{signing_input}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def prefill_keycache(xdg_cache_home: Path, issuers: list[TokenIssuer], uid: int = -1, gid: int = -1) -> Path:
    """Put the issuers' keys where scitokens-cpp looks first ($XDG_CACHE_HOME/scitokens), so it never
    fetches them over HTTPS (it only trusts the system CA bundle, which tests must not touch)."""
    directory = xdg_cache_home / "scitokens"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / "scitokens_cpp.sqllite"  # sic: scitokens-cpp's own spelling
    far = int(time.time()) + 86400  # next_update and expiry beyond the test: no refresh over the network
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE IF NOT EXISTS keycache (issuer text UNIQUE PRIMARY KEY NOT NULL, keys text NOT NULL)")
        for issuer in issuers:
            entry = {"jwks": issuer.jwks(), "next_update": far, "expires": far}
            db.execute("INSERT OR REPLACE INTO keycache VALUES (?, ?)", (issuer.url, json.dumps(entry)))
    db.close()
    if uid >= 0:
        for p in (xdg_cache_home, directory, path):
            os.chown(p, uid, gid)
    return path
