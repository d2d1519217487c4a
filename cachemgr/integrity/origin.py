"""Asking a cache's origin about a file the way the cache itself would: `xrdfs stat`, same origin, same login.

The origin is the instance's `pss.origin` (Target.origin). The authenticated instance logs in to it with the
credentials its rendered xrootd config names in `setenv` lines (X509_USER_PROXY, or X509_USER_CERT/KEY, and
X509_CERT_DIR): the same lines are read here and given to xrdfs, which runs as the cache's user when we are root
(a GSI client wants its proxy owned by whoever uses it). Stand-alone, xrdfs gets our own environment.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cachemgr.core import xroot

_SETENV = re.compile(r"^\s*setenv\s+(\w+)\s*=\s*(\S+)\s*$")
_FIELD = re.compile(r"^(Size|MTime):\s+(.+?)\s*$", re.M)
NOT_FOUND = "[3011]"  # kXR_NotFound: the origin has no such file


class OriginError(Exception):
    """The origin cannot be asked at all (unreachable, not an xroot server)."""


@dataclass(frozen=True)
class Stat:
    size: int
    mtime: int  # whole seconds, as xrdfs prints them


@dataclass(frozen=True)
class Origin:
    url: str  # root://host:port
    env: dict[str, str]  # the instance's login to it (setenv lines), on top of ours
    user: str | None  # run xrdfs as this user (we are root and the cache has one)
    timeout: int

    def probe(self) -> None:
        """Raise OriginError unless the origin answers an xroot handshake (xrdfs would retry for minutes)."""
        host, _, port = self.url.split("//", 1)[1].rstrip("/").rpartition(":")
        why = xroot.answers(int(port), host, timeout=self.timeout) if port.isdigit() else f"no port in {self.url}"
        if why:
            raise OriginError(f"origin {self.url}: {why}")

    def stat(self, path: str) -> Stat | None:
        """The origin's size and mtime of path; None when it has no such file; OSError for any other failure."""
        env = {
            **os.environ,
            **self.env,
            "TZ": "UTC",  # xrdfs prints MTime in local time
            "XRD_CONNECTIONRETRY": "1",
            "XRD_REQUESTTIMEOUT": str(self.timeout),
            "XRD_STREAMTIMEOUT": str(self.timeout),
        }
        try:
            result = subprocess.run(
                ["xrdfs", self.url, "stat", path],
                capture_output=True,
                text=True,
                env=env,
                user=self.user,
                timeout=self.timeout + 10,
            )
        except subprocess.TimeoutExpired:
            raise OSError(f"xrdfs stat took over {self.timeout + 10} s") from None
        if result.returncode:
            message = " ".join(result.stderr.split()) or f"xrdfs exited {result.returncode}"
            if NOT_FOUND in message:
                return None
            raise OSError(message.removeprefix("[ERROR] "))
        fields = dict(_FIELD.findall(result.stdout))
        try:
            mtime = datetime.strptime(fields["MTime"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
            return Stat(int(fields["Size"]), int(mtime.timestamp()))
        except (KeyError, ValueError):
            raise OSError(f"xrdfs stat: unexpected output {result.stdout.strip()!r}") from None


def url(origin: str) -> str:
    """pss.origin's host:port (or a root:// URL already) as a root:// URL."""
    return origin if origin.startswith(("root://", "xroot://")) else f"root://{origin}"


def login_env(cfg: Path) -> dict[str, str]:
    """The setenv lines of an instance's rendered xrootd config: how it logs in to its origin."""
    try:
        text = cfg.read_text()
    except OSError as e:
        raise OriginError(f"{cfg}: {e.strerror}") from None
    return dict(m.groups() for m in map(_SETENV.match, text.splitlines()) if m)
