"""Email address normalisation and header address-list parsing."""

from __future__ import annotations

import contextlib
import re
from email.header import decode_header, make_header
from email.utils import getaddresses

__all__ = ["email_domain", "normalize_email", "parse_address_list"]

_LOCAL_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-\u0080-\U0010ffff]+$")
_ALNUM = r"a-z0-9\u0080-\U0010ffff"
_LABEL_RE = re.compile(rf"^[{_ALNUM}]([{_ALNUM}\-]*[{_ALNUM}])?$")


def _decode_domain(domain: str) -> str | None:
    domain = domain.strip().strip(".").lower()
    if domain.startswith("[") and domain.endswith("]"):
        return domain  # address literal, keep as is
    labels = domain.split(".")
    if len(labels) < 2 and domain != "localhost":
        return None
    out = []
    for label in labels:
        if label.startswith("xn--"):
            # Decode punycode so 'xn--bcher-kva.de' and 'bücher.de' are the same domain.
            with contextlib.suppress(UnicodeError, ValueError):
                label = label.encode("ascii").decode("idna")
        label = label.lower()
        if not label or not _LABEL_RE.match(label):
            return None
        out.append(label)
    return ".".join(out)


def normalize_email(value: str | bytes | None) -> str | None:
    """Return a canonical address (lowercase, stripped, IDNA-decoded domain) or None."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    value = str(value).strip()
    if "<" in value and ">" in value:
        value = value[value.rfind("<") + 1 : value.rfind(">")]
    value = value.strip().strip("<>").strip()
    if value.lower().startswith("mailto:"):
        value = value[7:]
    if value.count("@") < 1 or any(c.isspace() for c in value):
        return None
    local, _, domain = value.rpartition("@")
    local = local.strip('"') if local.startswith('"') and local.endswith('"') else local
    if not local or len(local) > 64 or not _LOCAL_RE.match(local):
        return None
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return None
    domain_norm = _decode_domain(domain)
    if not domain_norm:
        return None
    return f"{local.lower()}@{domain_norm}"


def email_domain(addr: str | None) -> str | None:
    """Domain part of a (normalised) address, or None."""
    norm = normalize_email(addr) if addr else None
    return norm.rpartition("@")[2] if norm else None


def _decode_words(text: str) -> str:
    if "=?" not in text:
        return text
    try:
        return str(make_header(decode_header(text)))
    except (UnicodeError, LookupError, ValueError, TypeError, AssertionError):
        return text


def parse_address_list(header_value) -> list[tuple[str, str]]:
    """Parse To/Cc/From-style header values into ``[(display_name, normalized_email)]``.

    Accepts a string, a header object, or a list of those. Groups are flattened, garbage
    entries dropped, duplicates removed (first wins).
    """
    if header_value is None:
        return []
    values = header_value if isinstance(header_value, (list, tuple)) else [header_value]
    texts = []
    for value in values:
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        # Encoded words are decoded per name after splitting: a decoded name may hold commas.
        texts.append(str(value))
    result: list[tuple[str, str]] = []
    seen: set[str] = set()
    # Group syntax "team: a@x, b@y;" - drop the group label before splitting.
    cleaned = [re.sub(r'^\s*[^:"<>@,]+:(?!//)', "", t) for t in texts]
    cleaned = [t.replace(";", ",") for t in cleaned]
    try:
        pairs = getaddresses(cleaned, strict=False)
    except TypeError:  # Python without the 'strict' argument
        pairs = getaddresses(cleaned)
    for name, addr in pairs:
        norm = normalize_email(addr)
        if not norm or norm in seen:
            continue
        seen.add(norm)
        result.append((_decode_words(name).strip().strip('"').strip(), norm))
    return result
