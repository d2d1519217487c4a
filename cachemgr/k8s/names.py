"""The syntax checks behind the API server's rules, from apimachinery (read, not copied):
pkg/util/validation/validation.go (IsDNS1123Label, IsDNS1123Subdomain, IsValidPortName, IsConfigMapKey) and
pkg/api/validate/content/kube.go (IsLabelKey, which IsQualifiedName now is, and IsLabelValue).
Each returns the reasons the text is refused; an empty list when it is fine.
"""

from __future__ import annotations

import re

_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL = re.compile(_LABEL)
_DNS1123_SUBDOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_NAME_PART = re.compile(r"[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?")
_CONFIGMAP_KEY = re.compile(r"[-._a-zA-Z0-9]+")


def _max_len(text: str, limit: int) -> list[str]:
    return [f"must be no more than {limit} characters"] if len(text) > limit else []


def _syntax(text: str, pattern: re.Pattern[str], limit: int, reason: str) -> list[str]:
    return _max_len(text, limit) + ([] if pattern.fullmatch(text) else [reason])


def dns1123_label(text: str) -> list[str]:
    """Container, volume and namespace names: lower-case letters, digits and '-', at most 63."""
    reason = "must be a lowercase RFC 1123 label (letters, digits and '-', alphanumeric at both ends)"
    return _syntax(text, _DNS1123_LABEL, 63, reason)


def dns1123_subdomain(text: str) -> list[str]:
    """Object names and label-key prefixes: dot-separated RFC 1123 labels, at most 253."""
    return _syntax(text, _DNS1123_SUBDOMAIN, 253, "must be a lowercase RFC 1123 subdomain (letters, digits, '-', '.')")


def qualified_name(text: str) -> list[str]:
    """Label and annotation keys: an optional DNS subdomain prefix and '/', then a name of at most 63."""
    prefix, slash, name = text.rpartition("/")
    if text.count("/") > 1:
        return ["must be a name with at most one '/' (prefix/name)"]
    errors = []
    if slash and not prefix:
        errors.append("prefix part must be non-empty")
    elif slash:
        errors += [f"prefix part {e}" for e in dns1123_subdomain(prefix)]
    if not name:
        errors.append("name part must be non-empty")
    errors += [f"name part {e}" for e in _max_len(name, 63)]
    if name and not _NAME_PART.fullmatch(name):
        errors.append("name part must be letters, digits, '-', '_' or '.', alphanumeric at both ends")
    return errors


def label_value(text: str) -> list[str]:
    """Label values (and nodeSelector values): empty, or like a name part, at most 63."""
    errors = _max_len(text, 63)
    if text and not _NAME_PART.fullmatch(text):
        errors.append("must be empty or letters, digits, '-', '_' or '.', alphanumeric at both ends")
    return errors


def port_name(text: str) -> list[str]:
    """Container port names (IANA_SVC_NAME): at most 15 of [-a-z0-9], a letter, no '--', no '-' at the ends."""
    errors = _max_len(text, 15)
    if not re.fullmatch(r"[-a-z0-9]+", text):
        errors.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search(r"[a-z]", text):
        errors.append("must contain at least one letter (a-z)")
    if "--" in text:
        errors.append("must not contain consecutive hyphens")
    if text.startswith("-") or text.endswith("-"):
        errors.append("must not begin or end with a hyphen")
    return errors


def configmap_key(text: str) -> list[str]:
    """ConfigMap (and Secret) keys: [-._a-zA-Z0-9]+, at most 253, not '.' or '..' nor starting with '..'."""
    errors = _syntax(text, _CONFIGMAP_KEY, 253, "must consist of alphanumeric characters, '-', '_' or '.'")
    if text in (".", "..") or text.startswith(".."):
        errors.append("must not be '.' or '..', nor start with '..'")
    return errors
