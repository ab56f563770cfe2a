"""DMARC: read a domain's policy and suggest a first, non-blocking one."""

from __future__ import annotations

import dns.resolver

from .dns_check import (
    STATUS_FAIL,
    STATUS_PASS,
    CheckResult,
    lookup_txt,
    normalize_domain,
    pending_result,
)
from .domain_errors import DnsTimeout


def dmarc_record_name(domain: str) -> str:
    """Where the policy is published: ``_dmarc.<domain>``."""
    return f"_dmarc.{normalize_domain(domain)}"


def is_dmarc_record(txt: str) -> bool:
    return txt.strip().replace(" ", "").lower().startswith("v=dmarc1")


def lookup_dmarc(resolver: dns.resolver.Resolver, domain: str) -> str | None:
    """The DMARC record of ``domain`` (the first one if several), None when there is none.

    Raises ``DnsTimeout`` when the DNS servers do not answer.
    """
    records = [
        r for r in lookup_txt(resolver, dmarc_record_name(domain)) or [] if is_dmarc_record(r)
    ]
    return records[0] if records else None


def recommended_dmarc(domain: str, rua: str | None = None) -> str:
    """A monitoring-only policy (``p=none``) that changes no delivery while reports come in.

    ``rua`` is the address that receives aggregate reports; when it is outside ``domain`` the
    receiving domain must publish ``<domain>._report._dmarc.<its domain>`` (RFC 7489 §7.1).
    """
    normalize_domain(domain)
    value = "v=DMARC1; p=none"
    if rua:
        address = rua.strip()
        if address.lower().startswith("mailto:"):
            address = address[7:]
        if "@" not in address:
            raise ValueError(f"{rua!r} is not an email address for DMARC reports.")
        value += f"; rua=mailto:{address}"
    return value


def check_dmarc(resolver: dns.resolver.Resolver, domain: str) -> CheckResult:
    """Codes ``dmarc_missing``, ``dmarc_ok`` or ``dns_timeout`` (pending); advisory only."""
    name = dmarc_record_name(domain)
    try:
        record = lookup_dmarc(resolver, domain)
    except DnsTimeout as exc:
        return pending_result(exc, f"the DMARC record {name}")
    if record is None:
        return CheckResult(
            STATUS_FAIL,
            "dmarc_missing",
            f"{domain} publishes no DMARC policy. Recommended: add this TXT record at {name}: "
            f"{recommended_dmarc(domain)}",
            {"record_name": name, "suggested": recommended_dmarc(domain)},
        )
    return CheckResult(
        STATUS_PASS, "dmarc_ok", f"{domain} publishes a DMARC policy.", {"record": record}
    )


__all__ = [
    "check_dmarc",
    "dmarc_record_name",
    "is_dmarc_record",
    "lookup_dmarc",
    "recommended_dmarc",
]
