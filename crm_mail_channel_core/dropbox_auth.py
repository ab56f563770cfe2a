"""BCC dropbox: which dropbox a message is for, whether its sender may use it, forwards.

Plain Python (no Odoo). The addon stores a random token per user; the address is
``dropbox-<token>@<alias domain>``. A message is for a dropbox when that address is in To or Cc
or only in the envelope headers a receiving server adds (Delivered-To, X-Original-To, ...).

Who may use a dropbox: only its owner, from an address that is theirs (``dkim_sign``'s claim
rules: a verified address or their login belong to them alone, their own email or mailbox login
only when no other user claims it). A From header is easy to forge, so the message must also
authenticate as coming from that address's domain:

- a DKIM signature whose ``d=`` is aligned with the From domain and verifies against DNS, or
- an SPF or DKIM ``pass`` aligned with the From domain in the Authentication-Results header of
  a receiving server the administrator trusts (by its authserv-id). Only the topmost header of
  each trusted authserv-id counts: the receiving server adds its own at the top, so a copy
  forged by the sender is always below it (RFC 8601 §5 also asks that server to remove such
  copies).

Forwards: a message attached as ``message/rfc822`` is the original conversation; an inline
forward (Gmail's and Outlook's default) is the user's own mail, and the header block it quotes
names the contacts it is about (``inline_forward``).
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32

import dkim

from . import dkim_sign
from .addresses import normalize_email, parse_address_list
from .dns_check import resolve_records
from .errors import DnsTimeout

__all__ = [
    "DROPBOX_PREFIX",
    "ENVELOPE_HEADERS",
    "VISIBLE_HEADERS",
    "AuthDecision",
    "DnsUnavailable",
    "ForwardedHeader",
    "TxtCache",
    "aligned",
    "attached_messages",
    "authenticate",
    "dropbox_address",
    "dropbox_candidates",
    "dropbox_tokens",
    "header_value",
    "inline_forward",
    "is_dropbox_address",
    "may_mention_dropbox",
    "new_token",
    "parse_authentication_results",
    "resolver_dnsfunc",
    "sender_addresses",
    "sender_is_owner",
]

DROPBOX_PREFIX = "dropbox-"
# 15 random bytes: 120 bits, 24 base32 characters (lower-case letters and 2-7).
TOKEN_BYTES = 15
_TOKEN_RE = re.compile(r"^dropbox-([a-z2-7]{24})$")
VISIBLE_HEADERS = ("to", "cc")
ENVELOPE_HEADERS = (
    "delivered-to",
    "x-original-to",
    "envelope-to",
    "x-envelope-to",
    "resent-to",
    "resent-cc",
)
# DKIM signatures looked at per message (a message with more is unusual; each costs a lookup).
MAX_SIGNATURES = 5

# Decision codes
PASS_DKIM = "dkim"
PASS_AR_SPF = "ar_spf"
PASS_AR_DKIM = "ar_dkim"
REFUSED_NO_FROM = "no_from"
REFUSED_SEVERAL_FROM = "several_from"
REFUSED_NOT_OWN = "not_own_address"
REFUSED_UNAUTHENTICATED = "unauthenticated"
REFUSED_DNS = "dns_unavailable"


# ---- addresses -------------------------------------------------------------------------------


def new_token() -> str:
    return base64.b32encode(secrets.token_bytes(TOKEN_BYTES)).decode("ascii").lower()


def dropbox_address(token: str, domain: str) -> str:
    return f"{DROPBOX_PREFIX}{token}@{domain.lower()}"


def _token_of(address: str | None, domains: set[str]) -> str | None:
    norm = normalize_email(address) if address else None
    if not norm:
        return None
    local, _sep, domain = norm.rpartition("@")
    match = _TOKEN_RE.match(local)
    if not match or domain not in domains:
        return None
    return match.group(1)


def is_dropbox_address(address: str | None, domains: Iterable[str]) -> bool:
    return _token_of(address, {d.lower() for d in domains}) is not None


def may_mention_dropbox(raw: bytes) -> bool:
    """Cheap test before any parsing: can this message name a dropbox at all?"""
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    head = raw[: end if end >= 0 else len(raw)]
    return DROPBOX_PREFIX.encode() in head.lower()


def _headers(raw: bytes):
    """The header section of ``raw``, parsed (the body is not read)."""
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    head = raw[: end + 4] if end >= 0 else raw
    return BytesHeaderParser(policy=compat32).parsebytes(head, headersonly=True)


def header_value(raw: bytes, name: str) -> str:
    """The first ``name`` header of ``raw`` as it is (not decoded), "" when absent."""
    return str(_headers(raw).get(name, "") or "")


def dropbox_candidates(raw: bytes) -> list[tuple[str, str, bool]]:
    """``[(token, domain, visible)]`` of the dropbox-shaped addresses ``raw`` is addressed to,
    on any domain (the caller keeps those on its alias domains).

    ``visible`` is True when the address is in To or Cc, False when only the envelope headers
    name it (a Bcc).
    """
    if not may_mention_dropbox(raw):
        return []
    msg = _headers(raw)
    found: dict[tuple[str, str], bool] = {}
    for name in VISIBLE_HEADERS + ENVELOPE_HEADERS:
        values = [str(v) for v in msg.get_all(name) or () if DROPBOX_PREFIX in str(v).lower()]
        for _name, addr in parse_address_list(values) if values else ():
            local, _sep, domain = addr.rpartition("@")
            match = _TOKEN_RE.match(local)
            if match:
                key = (match.group(1), domain)
                found[key] = found.get(key, False) or name in VISIBLE_HEADERS
    return [(token, domain, visible) for (token, domain), visible in found.items()]


def dropbox_tokens(raw: bytes, domains: Iterable[str]) -> list[tuple[str, bool]]:
    """``[(token, visible)]`` of the dropbox addresses on ``domains`` (the alias domains)."""
    domains = {d.lower() for d in domains if d}
    found: dict[str, bool] = {}
    for token, domain, visible in dropbox_candidates(raw):
        if domain in domains:
            found[token] = found.get(token, False) or visible
    return list(found.items())


def sender_addresses(raw) -> list[str]:
    """Normalised addresses of the From header(s) of ``raw`` (bytes or parsed headers)."""
    msg = _headers(raw) if isinstance(raw, bytes) else raw
    values = [str(v) for v in msg.get_all("from") or ()]
    return [addr for _name, addr in parse_address_list(values)]


def sender_is_owner(owner_id: int, claims: Sequence[tuple[int, str]]) -> bool:
    """Whether an address is ``owner_id``'s own, from its ``(user id, claim kind)`` pairs."""
    return owner_id in dkim_sign.address_owners(claims)


# ---- Authentication-Results (RFC 8601) -------------------------------------------------------


def _strip_comments(value: str) -> str:
    out, depth, quoted, escaped = [], 0, False, False
    for ch in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(ch)
            continue
        if ch == "\\":
            escaped = True
            if depth == 0:
                out.append(ch)
            continue
        if ch == '"' and depth == 0:
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
            continue
        elif not quoted and ch == ")" and depth:
            depth -= 1
            continue
        if depth == 0:
            out.append(ch)
    return "".join(out)


_PAIR_RE = re.compile(r'([A-Za-z0-9_.\-/]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s;]+)')


@dataclass(frozen=True)
class AuthResult:
    method: str
    result: str
    props: dict[str, str] = field(default_factory=dict)


def parse_authentication_results(value: str) -> tuple[str, list[AuthResult]]:
    """``(authserv-id, [AuthResult])`` of one Authentication-Results header value."""
    text = " ".join(_strip_comments(value or "").split())
    parts = text.split(";")
    authserv = (parts[0].split() or [""])[0].strip().lower()
    results = []
    for part in parts[1:]:
        pairs = _PAIR_RE.findall(part)
        if not pairs:
            continue
        method, result = pairs[0]
        props = {}
        for key, val in pairs[1:]:
            props[key.lower()] = val.strip('"').strip()
        results.append(AuthResult(method.split("/")[0].lower(), result.lower(), props))
    return authserv, results


# ---- alignment and DKIM ----------------------------------------------------------------------


def aligned(domain: str | None, from_domain: str | None) -> bool:
    """Relaxed alignment: one domain is the other or a subdomain of it (the shorter one with at
    least two labels, so that no signature for a bare top-level domain aligns)."""
    if not domain or not from_domain:
        return False
    a, b = domain.lower().strip(".").lstrip("@"), from_domain.lower().strip(".")
    if "@" in a:
        a = a.rpartition("@")[2]
    if a == b:
        return True
    shorter, longer = (a, b) if len(a) < len(b) else (b, a)
    return shorter.count(".") >= 1 and longer.endswith("." + shorter)


def _crlf(raw: bytes) -> bytes:
    return re.sub(rb"\r?\n", b"\r\n", raw)


def _signature_domains(msg) -> list[str]:
    """``d=`` of each DKIM-Signature, in order; "" for one that is never accepted (malformed,
    or with a body length limit ``l=``, under which content can be appended to a signed
    message)."""
    domains = []
    for value in msg.get_all("dkim-signature") or ():
        try:
            tags = dkim_sign.parse_tag_list(" ".join(str(value).split()))
        except ValueError:
            domains.append("")
            continue
        domains.append("" if "l" in tags else (tags.get("d") or "").strip().lower())
    return domains


class DnsUnavailable(Exception):
    """The key of a signature could not be fetched (no answer, timeout)."""


class TxtCache:
    """Keys found in DNS, kept ``ttl`` seconds: a batch of mail from one sender looks its key
    up once. Only keys found are kept (a key just published is seen at once)."""

    def __init__(self, ttl: float = 60.0, size: int = 1000) -> None:
        self.ttl, self.size = ttl, size
        self._values: dict = {}

    def get(self, key):
        found = self._values.get(key)
        if found and found[0] > time.monotonic():
            return found[1]
        return None

    def put(self, key, value) -> None:
        if len(self._values) >= self.size:
            self._values.clear()
        self._values[key] = (time.monotonic() + self.ttl, value)


def resolver_dnsfunc(resolver, cache: TxtCache | None = None) -> Callable[..., bytes | None]:
    """dkimpy's ``dnsfunc`` on a dnspython resolver (``dns_check.make_resolver``)."""
    servers = tuple(str(ns) for ns in resolver.nameservers)

    def get_txt(name: bytes, timeout: float = 5) -> bytes | None:
        key = (servers, name)
        if cache is not None and (value := cache.get(key)) is not None:
            return value
        try:
            found = resolve_records(resolver, name.decode("ascii", "replace").rstrip("."), "TXT")
        except DnsTimeout:
            raise DnsUnavailable() from None
        if found is None or not found.rdatas:
            return None
        value = b"".join(found.rdatas[0].strings)
        if cache is not None:
            cache.put(key, value)
        return value

    return get_txt


def dkim_aligned_pass(
    raw: bytes, from_domain: str, dnsfunc: Callable[..., bytes | None], msg=None
) -> bool:
    """Whether one DKIM signature aligned with ``from_domain`` verifies.

    ``dnsfunc(name, timeout=...)`` returns the TXT record bytes or None; it may raise
    ``DnsUnavailable``, which is passed on when no other aligned signature verified.
    """
    msg = msg if msg is not None else _headers(raw)
    data = _crlf(raw)
    unavailable = False
    for idx, domain in enumerate(_signature_domains(msg)[:MAX_SIGNATURES]):
        if not aligned(domain, from_domain):
            continue
        try:
            if dkim.DKIM(data).verify(idx=idx, dnsfunc=dnsfunc):
                return True
        except DnsUnavailable:
            unavailable = True
        except dkim.DKIMException:
            continue
    if unavailable:
        raise DnsUnavailable()
    return False


def _trusted_results(msg, trusted_ids: set[str]) -> list[AuthResult]:
    seen, results = set(), []
    for value in msg.get_all("authentication-results") or ():
        authserv, found = parse_authentication_results(str(value))
        if authserv not in trusted_ids or authserv in seen:
            continue  # untrusted, or below the topmost header of that server (forged)
        seen.add(authserv)
        results += found
    return results


def _ar_pass(results: list[AuthResult], from_domain: str) -> str | None:
    for res in results:
        if res.result != "pass":
            continue
        if res.method == "spf":
            mailfrom = res.props.get("smtp.mailfrom") or res.props.get("smtp.helo")
            if aligned(mailfrom, from_domain):
                return PASS_AR_SPF
        elif res.method == "dkim":
            signer = res.props.get("header.d") or res.props.get("header.i")
            if aligned(signer, from_domain):
                return PASS_AR_DKIM
    return None


@dataclass(frozen=True)
class AuthDecision:
    ok: bool
    code: str
    sender: str | None = None


def authenticate(
    raw: bytes,
    owner_id: int,
    claims_of: Callable[[str], Sequence[tuple[int, str]]],
    trusted_authserv_ids: Iterable[str] = (),
    dnsfunc: Callable[..., bytes | None] | None = None,
) -> AuthDecision:
    """May ``raw`` enter the dropbox of user ``owner_id``?

    ``claims_of(address)`` gives the ``(user id, claim kind)`` pairs of an address (see
    ``dkim_sign.address_owners``). Trusted Authentication-Results are read first (no DNS),
    then the message's own DKIM signatures are verified with ``dnsfunc``.
    """
    msg = _headers(raw)
    senders = sender_addresses(msg)
    if not senders:
        return AuthDecision(False, REFUSED_NO_FROM)
    if len(senders) > 1:
        return AuthDecision(False, REFUSED_SEVERAL_FROM, senders[0])
    sender = senders[0]
    if not sender_is_owner(owner_id, claims_of(sender)):
        return AuthDecision(False, REFUSED_NOT_OWN, sender)
    from_domain = sender.rpartition("@")[2]
    trusted = {t.strip().lower() for t in trusted_authserv_ids if t and t.strip()}
    if trusted:
        code = _ar_pass(_trusted_results(msg, trusted), from_domain)
        if code:
            return AuthDecision(True, code, sender)
    if dnsfunc is not None:
        try:
            if dkim_aligned_pass(raw, from_domain, dnsfunc, msg):
                return AuthDecision(True, PASS_DKIM, sender)
        except DnsUnavailable:
            return AuthDecision(False, REFUSED_DNS, sender)
    return AuthDecision(False, REFUSED_UNAUTHENTICATED, sender)


# ---- forwards --------------------------------------------------------------------------------

# Lines that open a quoted header block (Gmail, Thunderbird, Apple Mail, Outlook).
_FORWARD_MARKERS = re.compile(
    r"^\s*(?:-{2,}\s*(?:forwarded message|original message|weitergeleitete nachricht|"
    r"message transf[ée]r[ée]|mensaje reenviado|ursprüngliche nachricht|message d'origine)"
    r"\s*-{2,}|begin forwarded message:|_{10,})\s*$",
    re.I,
)
_LABELS = {
    "from": ("from", "von", "de", "van"),
    "to": ("to", "an", "à", "a", "para", "aan"),
    "cc": ("cc",),
    "subject": ("subject", "betreff", "objet", "asunto", "onderwerp"),
    "date": ("date", "sent", "datum", "gesendet", "envoyé", "enviado", "verzonden"),
}
_LABEL_OF = {word: key for key, words in _LABELS.items() for word in words}
_HEADER_LINE = re.compile(r"^\s*\*?([A-Za-zÀ-ÿ]+)\s*:\*?\s*(.*)$")
_MAILTO = re.compile(r"\[mailto:([^\]]+)\]", re.I)


@dataclass(frozen=True)
class ForwardedHeader:
    """The quoted header block of an inline forward."""

    email_from: tuple[str, str] | None
    to: list[tuple[str, str]]
    cc: list[tuple[str, str]]
    subject: str
    date: str

    def addresses(self) -> list[str]:
        found = [self.email_from[1]] if self.email_from else []
        for _name, addr in self.to + self.cc:
            if addr not in found:
                found.append(addr)
        return found


def attached_messages(raw: bytes, limit: int = 10) -> list[bytes]:
    """The complete messages attached to ``raw`` (message/rfc822 parts, outermost first)."""
    found: list[bytes] = []
    if b"message/rfc822" not in raw.lower():
        return found
    stack = [message_from_bytes(raw, policy=compat32)]
    while stack and len(found) < limit:
        part = stack.pop(0)
        if part.get_content_type() == "message/rfc822":
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else None
            if isinstance(inner, Message):
                data = inner.as_bytes(policy=compat32)
                # RFC 2046 wants message/rfc822 in 7bit/8bit, but some clients encode it.
                encoding = str(part.get("content-transfer-encoding", "")).strip().lower()
                if encoding == "base64":
                    data = binascii.a2b_base64(b"".join(data.split()))
                elif encoding == "quoted-printable":
                    data = quopri.decodestring(data.lstrip(b"\r\n"))
                found.append(data)
            continue  # a forward inside the forward is the forwarded message's business
        if part.is_multipart():
            payload = part.get_payload()
            stack.extend(payload if isinstance(payload, list) else [])
    return found


def _addresses(value: str) -> list[tuple[str, str]]:
    return parse_address_list(_MAILTO.sub(r"<\1>", value))


def inline_forward(body_text: str) -> ForwardedHeader | None:
    """The first quoted header block of an inline forward in ``body_text``, or None.

    A block starts after a forward marker line and holds at least From plus Subject or Date.
    """
    lines = (body_text or "").replace("\r\n", "\n").split("\n")
    for start, line in enumerate(lines):
        if not _FORWARD_MARKERS.match(line):
            continue
        values: dict[str, str] = {}
        last = None
        for follow in lines[start + 1 : start + 20]:
            if not follow.strip():
                if values:
                    break
                continue
            match = _HEADER_LINE.match(follow)
            key = _LABEL_OF.get(match.group(1).lower()) if match else None
            if key and key not in values:
                values[key] = match.group(2).strip()
                last = key
            elif last in ("to", "cc") and follow.startswith((" ", "\t")):
                values[last] += " " + follow.strip()  # a folded recipient list
            else:
                break
        senders = _addresses(values.get("from", ""))
        if senders and ("subject" in values or "date" in values):
            return ForwardedHeader(
                email_from=senders[0],
                to=_addresses(values.get("to", "")),
                cc=_addresses(values.get("cc", "")),
                subject=values.get("subject", ""),
                date=values.get("date", ""),
            )
    return None
