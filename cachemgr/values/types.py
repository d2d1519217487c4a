"""The kinds of value a parameter can hold, each a pydantic type that parses what an admin writes.

Every parser raises ValueError with a reason an admin can act on; the loader adds FILE:LINE: KEY.
"""

from __future__ import annotations

import posixpath
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from cachemgr.core import quantity
from cachemgr.core.units import parse_duration, parse_size
from cachemgr.core.units import text as _text

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
_HOSTNAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*"
)
_ACCOUNT = re.compile(r"[a-z_][a-z0-9_.-]{0,31}")
_IMAGE = re.compile(r"[a-z0-9][a-z0-9._/:-]*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}(@sha256:[0-9a-f]{64})?")


def parse_fraction(raw: Any) -> float:
    if isinstance(raw, bool):
        raise ValueError(f'"{raw}" is not a fraction')
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValueError(f'"{raw}" is not a fraction between 0 and 1 (use 0.9)') from None
    if not 0 < value < 1:
        raise ValueError(f"{raw} is not between 0 and 1 (exclusive): watermarks are fractions of the disk")
    return value


def parse_port(raw: Any) -> int:
    if isinstance(raw, bool) or not str(raw).isdigit() or not 1 <= int(raw) <= 65535:
        raise ValueError(f'"{raw}" is not a TCP/UDP port (1-65535)')
    return int(raw)


def parse_host_port(raw: Any) -> str:
    text = _text(raw)
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f'"{text}" is not host:port (use origin.example.org:1094)')
    if not _HOSTNAME.fullmatch(host.strip("[]")) and not host.startswith("["):
        raise ValueError(f'"{host}" is not a host name')
    parse_port(port)
    return text


def parse_abs_path(raw: Any) -> str:
    text = _text(raw)
    if not text.startswith("/"):
        raise ValueError(f'"{text}" is not an absolute path')
    if any(c.isspace() or c in "#\"'" for c in text):  # a comment or quote in an xrootd config or the crontab
        raise ValueError(f'"{text}" contains white space, # or a quote, which XRootD configs cannot quote')
    if ".." in text.split("/"):
        raise ValueError(f'"{text}" contains ".."')
    return posixpath.normpath(text)


def parse_namespace(raw: Any) -> str:
    """A namespace prefix as XRootD authfiles use it: absolute, no trailing slash."""
    path = parse_abs_path(raw)
    if any(c in path for c in "*?\\\"'#"):
        raise ValueError(f'"{path}" is not a namespace path (letters, digits, / . _ - only)')
    return path


def _matching(pattern: re.Pattern[str], reason: str):
    """A parser for text that must match pattern; the error says the value is not `reason`."""

    def parse(raw: Any) -> str:
        text = _text(raw)
        if not pattern.fullmatch(text):
            raise ValueError(f'"{text}" is not {reason}')
        return text

    return parse


parse_dns_label = _matching(_DNS_LABEL, 'a DNS label (lower-case letters, digits and "-", at most 63)')
parse_hostname = _matching(_HOSTNAME, "a host name")
parse_account = _matching(_ACCOUNT, "a Unix account name")


def parse_quantity(raw: Any) -> str:
    """Kept as written (it is rendered as is); a syntax the API server would not parse is refused here, at its
    line. Its value (negative, above the limit) is the API server's rules' to judge (cachemgr/k8s/rules.py)."""
    return quantity.validate(_text(raw))


def parse_word(raw: Any) -> str:
    text = _text(raw)
    if not text or any(c.isspace() for c in text):
        raise ValueError(f'"{text}" must be one word without spaces')
    return text


def parse_image(raw: Any) -> str:
    text = _text(raw)
    if not _IMAGE.fullmatch(text):
        raise ValueError(f'"{text}" is not an image reference with a tag (use repo/name:1.2.3)')
    if text.split("@")[0].rsplit(":", 1)[1] == "latest":
        raise ValueError(f'"{text}": the tag "latest" is not allowed; pin a version')
    return text


def parse_raw_line(raw: Any) -> str:
    text = _text(raw)
    if "\n" in text:
        raise ValueError("one XRootD directive per list item, without newlines")
    return text


def parse_url(raw: Any) -> str:
    text = _text(raw)
    if not re.fullmatch(r"https://[^\s/]+(/\S*)?", text):
        raise ValueError(f'"{text}" is not an https:// URL')
    return text


Size = Annotated[int, BeforeValidator(parse_size)]
Duration = Annotated[int, BeforeValidator(parse_duration)]
Fraction = Annotated[float, BeforeValidator(parse_fraction)]
Port = Annotated[int, BeforeValidator(parse_port)]
HostPort = Annotated[str, BeforeValidator(parse_host_port)]
AbsPath = Annotated[str, BeforeValidator(parse_abs_path)]
Namespace = Annotated[str, BeforeValidator(parse_namespace)]
DnsLabel = Annotated[str, BeforeValidator(parse_dns_label)]
Hostname = Annotated[str, BeforeValidator(parse_hostname)]
Word = Annotated[str, BeforeValidator(parse_word)]
Account = Annotated[str, BeforeValidator(parse_account)]
Quantity = Annotated[str, BeforeValidator(parse_quantity)]
Image = Annotated[str, BeforeValidator(parse_image)]
RawLine = Annotated[str, BeforeValidator(parse_raw_line)]
HttpsUrl = Annotated[str, BeforeValidator(parse_url)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TokenIssuer(_Strict):
    """A SciTokens issuer allowed to grant reads below base_path."""

    url: HttpsUrl
    base_path: Namespace | None = None
    audience: list[Word] = Field(default_factory=list)


class ProtectedNamespace(_Strict):
    """A namespace the noauth instance refuses and the auth instance serves to the listed readers."""

    path: Namespace
    account: Account
    dns: list[Annotated[str, BeforeValidator(_text)]] = Field(default_factory=list)
    fqans: list[Word] = Field(default_factory=list)
    issuers: list[TokenIssuer] = Field(default_factory=list)


class Toleration(_Strict):
    """Rendered as written: no operator means Equal to the API server (k8s/rules.py checks the combinations)."""

    key: str | None = None
    operator: str | None = None
    value: str | None = None
    effect: str | None = None
    tolerationSeconds: int | None = None  # the API's field name: rendered as is


# The names the parameter table and docs use for each kind.
KINDS: dict[str, Any] = {
    "size": Size,
    "duration": Duration,
    "fraction": Fraction,
    "integer": Annotated[int, Field(ge=0, strict=False)],
    "boolean": bool,
    "port": Port,
    "host:port": HostPort,
    "host:port?": HostPort | None,
    "host:port list": list[HostPort],
    "path": AbsPath,
    "path list": list[AbsPath],
    "namespace list": list[Namespace],
    "protected namespaces": list[ProtectedNamespace],
    "dns label": DnsLabel,
    "hostname": Hostname,
    "word": Word,
    "word list": list[Word],
    "account": Account,
    "quantity": Quantity,
    "image": Image,
    "directive list": list[RawLine],
    "tolerations": list[Toleration],
    "size?": Size | None,
    "origin credential": Literal["proxy", "hostcert"],
    "cert source": Literal["secret", "hostpath"],
    "cschk": Literal["off", "net", "cache", "both"],
    "mapping": dict[str, Any],
    "text": Annotated[str, BeforeValidator(_text)],
    "text?": Annotated[str, BeforeValidator(_text)] | None,
}
