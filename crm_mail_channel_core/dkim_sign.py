"""DKIM: key pairs, the TXT record to publish, signing outgoing mail and checking the record.

Keys are RSA (rsa-sha256, RFC 6376/8301); signatures use relaxed/relaxed canonicalisation, which
survives the header re-folding and whitespace changes relays commonly make. Rotation publishes
the new key under a new selector (``new_selector``) while the old selector stays in DNS until
mail signed with it has been delivered.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from datetime import date, datetime, timezone

import dkim
import dkim.util
import dns.resolver
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .dns_check import (
    STATUS_FAIL,
    STATUS_PASS,
    CheckResult,
    normalize_domain,
    pending_result,
    resolve_records,
    txt_to_str,
)
from .domain_errors import DkimKeyError, DnsTimeout, make_error

DEFAULT_KEY_BITS = 2048
TXT_STRING_MAX = 255

# Headers that matter to the reader; absent ones are signed too, so nobody can add them later.
DEFAULT_SIGNED_HEADERS: tuple[str, ...] = (
    "From",
    "Reply-To",
    "Subject",
    "Date",
    "To",
    "Cc",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
)

_SELECTOR_RE = re.compile(
    r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)


# ---- keys and the record to publish ------------------------------------------------------------


def generate_key_pair(bits: int = DEFAULT_KEY_BITS) -> tuple[bytes, str]:
    """A new RSA key: (PKCS#1 PEM private key, base64 SubjectPublicKeyInfo for ``p=``)."""
    if bits < 1024:
        raise ValueError("DKIM keys shorter than 1024 bits are rejected by receivers.")
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,  # PKCS#1, the form dkimpy reads
        serialization.NoEncryption(),
    )
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem, base64.b64encode(public_der).decode("ascii")


def public_key_from_private(private_pem: bytes) -> str:
    """The base64 ``p=`` value belonging to a private key (PKCS#1 or PKCS#8 PEM)."""
    key = _load_private_key(private_pem)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii")


def dkim_txt_value(public_b64: str) -> str:
    """The TXT value to publish: ``v=DKIM1; k=rsa; p=<key>``."""
    return f"v=DKIM1; k=rsa; p={''.join(public_b64.split())}"


def split_txt(value: str, size: int = TXT_STRING_MAX) -> list[str]:
    """Split a TXT value into character-strings of at most ``size`` bytes (RFC 1035 limit)."""
    if not 0 < size <= TXT_STRING_MAX:
        raise ValueError("TXT strings hold 1 to 255 characters.")
    if not value:
        return [""]
    return [value[i : i + size] for i in range(0, len(value), size)]


def zone_txt_presentation(value: str) -> str:
    """The quoted multi-string form (``"..." "..."``) to paste into a zone file or DNS panel."""
    parts = []
    for chunk in split_txt(value):
        escaped = chunk.replace("\\", "\\\\").replace('"', '\\"')
        parts.append(f'"{escaped}"')
    return " ".join(parts)


def dkim_record_name(selector: str, domain: str) -> str:
    """Where the key is published: ``<selector>._domainkey.<domain>``."""
    selector = (selector or "").strip().lower()
    if not _SELECTOR_RE.match(selector):
        raise ValueError(f"{selector!r} is not a valid DKIM selector.")
    return f"{selector}._domainkey.{normalize_domain(domain)}"


def new_selector(
    prefix: str = "odoo", when: date | datetime | None = None, existing: Sequence[str] = ()
) -> str:
    """A selector like ``odoo202611`` for a key made in that month, unique among ``existing``.

    A second rotation in the same month gets ``odoo202611-2``, and so on.
    """
    when = when or datetime.now(timezone.utc)
    base = f"{prefix.lower()}{when:%Y%m}"
    taken = {name.lower() for name in existing}
    candidate, counter = base, 1
    while candidate in taken:
        counter += 1
        candidate = f"{base}-{counter}"
    if not _SELECTOR_RE.match(candidate):
        raise ValueError(f"{candidate!r} is not a valid DKIM selector; choose another prefix.")
    return candidate


# ---- signing and verifying -----------------------------------------------------------------


def _load_private_key(private_pem: bytes | str) -> rsa.RSAPrivateKey:
    data = private_pem.encode() if isinstance(private_pem, str) else private_pem
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise make_error(
            DkimKeyError, "The DKIM private key is not a readable, unencrypted PEM key."
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise make_error(DkimKeyError, "The DKIM private key must be an RSA key.")
    return key


def _pkcs1_pem(private_pem: bytes | str) -> bytes:
    """dkimpy reads only PKCS#1 ("BEGIN RSA PRIVATE KEY"); convert PKCS#8 keys on the fly."""
    return _load_private_key(private_pem).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def sign_message(
    raw: bytes,
    selector: str,
    domain: str,
    private_pem: bytes,
    headers: Sequence[str] = DEFAULT_SIGNED_HEADERS,
) -> bytes:
    """Return ``raw`` with a DKIM-Signature header prepended (relaxed/relaxed, rsa-sha256).

    ``raw`` is the message as it will go on the wire (CRLF line ends, as smtplib sends it).
    """
    selector = (selector or "").strip().lower()
    domain = normalize_domain(domain)
    dkim_record_name(selector, domain)  # validates the selector
    names = [h.encode("ascii") for h in headers]
    if b"from" not in {name.lower() for name in names}:
        names.insert(0, b"From")  # RFC 6376 §5.4: From must be signed
    try:
        signature = dkim.sign(
            raw,
            selector.encode("ascii"),
            domain.encode("ascii"),
            _pkcs1_pem(private_pem),
            canonicalize=(b"relaxed", b"relaxed"),
            signature_algorithm=b"rsa-sha256",
            include_headers=names,
        )
    except dkim.DKIMException as exc:
        raise make_error(DkimKeyError, f"The message could not be DKIM-signed: {exc}") from None
    return signature + raw


def _dns_txt_func(resolver: dns.resolver.Resolver):
    def get_txt(name: bytes, timeout: float = 5) -> bytes | None:
        found = resolve_records(resolver, name.decode("ascii", "replace").rstrip("."), "TXT")
        if found is None or not found.rdatas:
            return None
        return b"".join(found.rdatas[0].strings)

    return get_txt


def verify_message(raw: bytes, resolver: dns.resolver.Resolver) -> bool:
    """Whether the topmost DKIM signature of ``raw`` verifies with the key found in DNS.

    Raises ``DnsTimeout`` when the key could not be fetched, so "no answer yet" is not
    mistaken for "invalid signature".
    """
    return bool(dkim.verify(raw, dnsfunc=_dns_txt_func(resolver), timeout=resolver.lifetime))


# ---- checking the published record ---------------------------------------------------------


def parse_tag_list(value: str) -> dict[str, str]:
    """RFC 6376 §3.2 tag=value list (dkimpy's parser); ValueError when malformed."""
    try:
        tags = dkim.util.parse_tag_value(value.encode("utf-8", "replace"))
    except dkim.util.DuplicateTag as exc:
        raise ValueError(
            f"the tag '{exc.args[0].decode(errors='replace')}' appears twice"
        ) from None
    except dkim.util.InvalidTagValueList as exc:
        spec = exc.args[0].decode(errors="replace") if exc.args else value
        raise ValueError(f"'{spec.strip()}' is not a tag=value pair") from None
    return {
        name.decode(errors="replace"): tag_value.decode(errors="replace")
        for name, tag_value in tags.items()
    }


def _public_key_der(public_b64: str) -> bytes:
    """DER SubjectPublicKeyInfo of a ``p=`` value (also accepts a bare PKCS#1 key)."""
    data = base64.b64decode("".join(public_b64.split()), validate=True)
    try:
        key = serialization.load_der_public_key(data)
    except ValueError:
        # Some generators publish the bare PKCS#1 RSAPublicKey; receivers accept it.
        pem = b"-----BEGIN RSA PUBLIC KEY-----\n" + base64.encodebytes(data)
        key = serialization.load_pem_public_key(pem + b"-----END RSA PUBLIC KEY-----\n")
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def check_dkim(
    resolver: dns.resolver.Resolver, selector: str, domain: str, expected_public_b64: str
) -> CheckResult:
    """Check the key published for ``selector``: codes ``dkim_missing``, ``dkim_malformed``,
    ``dkim_wrong_key``, ``dns_timeout`` (status 'pending') or ``dkim_ok``.

    A CNAME at the selector (delegation to a provider) is followed.
    """
    name = dkim_record_name(selector, domain)
    expected_value = dkim_txt_value(expected_public_b64)
    details: dict = {"record_name": name, "expected": expected_value}
    try:
        found = resolve_records(resolver, name, "TXT")
    except DnsTimeout as exc:
        return pending_result(exc, f"the DKIM record {name}")

    if found is None:
        return CheckResult(
            STATUS_FAIL,
            "dkim_missing",
            f"No DKIM record found at {name}. Publish this TXT record there: {expected_value}",
            details,
        )
    if found.canonical_name != name:
        details["cname_target"] = found.canonical_name
    records = [txt_to_str(rdata) for rdata in found.rdatas]
    details["records"] = records

    def malformed(reason: str) -> CheckResult:
        return CheckResult(
            STATUS_FAIL,
            "dkim_malformed",
            f"The DKIM record at {name} cannot be read by receivers: {reason}. "
            f"Replace it with: {expected_value}",
            details,
        )

    if len(records) > 1:
        return malformed(f"there are {len(records)} TXT records and there must be exactly one")
    try:
        tags = parse_tag_list(records[0])
    except ValueError as exc:
        return malformed(str(exc))
    if "v" in tags and tags["v"] != "DKIM1":
        return malformed(f"v={tags['v']} should be v=DKIM1")
    if tags.get("k", "rsa").lower() != "rsa":
        return malformed(f"the key type is k={tags['k']}, we sign with k=rsa")
    if "p" not in tags:
        return malformed("it has no public key (p=)")
    if not tags["p"]:
        return CheckResult(
            STATUS_FAIL,
            "dkim_wrong_key",
            f"The DKIM record at {name} has an empty key (p=), which means the key is revoked. "
            f"Publish: {expected_value}",
            details,
        )
    try:
        published = _public_key_der(tags["p"])
    except (binascii.Error, ValueError):
        return malformed("the public key (p=) is not a valid base64 RSA key; it may be cut off")
    try:
        expected = _public_key_der(expected_public_b64)
    except (binascii.Error, ValueError):
        raise ValueError("expected_public_b64 is not a valid RSA public key") from None
    if published != expected:
        return CheckResult(
            STATUS_FAIL,
            "dkim_wrong_key",
            f"The DKIM record at {name} holds a different key from the one Odoo signs with. "
            f"Replace it with: {expected_value}",
            details,
        )
    return CheckResult(
        STATUS_PASS, "dkim_ok", f"The DKIM record at {name} holds the right key.", details
    )


# ---- who may be signed for ----------------------------------------------------------------------

# How a user claims an address, strongest first. A verified address (an emailed code was entered)
# and a login (set by an administrator) belong to their holders alone; a user's own email and a
# mailbox login are set by the users themselves, so they count only when nobody else claims the
# same address.
CLAIM_VERIFIED = "verified"
CLAIM_LOGIN = "login"
CLAIM_EMAIL = "email"
CLAIM_MAILBOX = "mailbox"
_EXCLUSIVE_CLAIMS = (CLAIM_VERIFIED, CLAIM_LOGIN)
_SELF_DECLARED_CLAIMS = (CLAIM_EMAIL, CLAIM_MAILBOX)

# Why a From address is not signed for its sender (``sender_refusal``).
REFUSED_NO_SENDER = "no_sender"
REFUSED_OTHER_OWNER = "other_owner"
REFUSED_SHARED = "shared"
REFUSED_NOT_OWNED = "not_owned"


def address_owners(claims: Sequence[tuple[int, str]]) -> set[int]:
    """The users an address belongs to, from its ``(user_id, claim kind)`` pairs.

    A verified address belongs to its verifiers, else a login to its holder; otherwise the one
    user who uses it as their email or mailbox login. Two users claiming it by their own say-so
    means it is nobody's: neither can sign as the other by editing their profile.
    """
    for kind in _EXCLUSIVE_CLAIMS:
        owners = {user_id for user_id, claim in claims if claim == kind}
        if owners:
            return owners
    owners = {user_id for user_id, claim in claims if claim in _SELF_DECLARED_CLAIMS}
    return owners if len(owners) == 1 else set()


def sender_refusal(
    address: str,
    sender_id: int | None,
    claims: Sequence[tuple[int, str]],
    system_addresses: Sequence[str] = (),
) -> str | None:
    """None when mail from ``address`` may be signed for ``sender_id``, else a reason code.

    ``address`` and ``system_addresses`` are normalised addresses; the company's system
    addresses (catch-all, bounce, notifications) are signed for everyone. ``sender_id`` None
    means the system itself sends (no user): only system addresses are signed then.
    """
    if address in set(system_addresses):
        return None
    if not sender_id:
        return REFUSED_NO_SENDER
    owners = address_owners(claims)
    if sender_id in owners:
        return None
    if owners:
        return REFUSED_OTHER_OWNER
    if len({user_id for user_id, _claim in claims}) > 1:
        return REFUSED_SHARED
    return REFUSED_NOT_OWNED


__all__ = [
    "CLAIM_EMAIL",
    "CLAIM_LOGIN",
    "CLAIM_MAILBOX",
    "CLAIM_VERIFIED",
    "DEFAULT_SIGNED_HEADERS",
    "REFUSED_NOT_OWNED",
    "REFUSED_NO_SENDER",
    "REFUSED_OTHER_OWNER",
    "REFUSED_SHARED",
    "address_owners",
    "check_dkim",
    "dkim_record_name",
    "dkim_txt_value",
    "generate_key_pair",
    "new_selector",
    "parse_tag_list",
    "public_key_from_private",
    "sender_refusal",
    "sign_message",
    "split_txt",
    "verify_message",
    "zone_txt_presentation",
]
