"""DNS lookups for domain authentication, and the ``CheckResult`` every check returns.

The Odoo system parameter ``crm_mail_channel.dns_nameservers`` holds a comma-separated list of
nameservers (``parse_nameservers``); empty means the machine's own resolver. Each entry is
``ip``, ``ip:port``, ``[ipv6]:port`` or a bare IPv6 address. Entries may use different ports:
dnspython's ``Do53Nameserver`` carries a port per server, so nothing forces one shared port.

Lookups never use a cache: an admin who just fixed a record must see the fix on the next check.
CNAMEs are followed by us as well as by the server, because a stub talking to an authoritative
server (our test Knot, or a company's own DNS) only gets the CNAME when its target is in
another zone.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

import dns.exception
import dns.name
import dns.nameserver
import dns.rdatatype
import dns.resolver

from .errors import DnsTimeout

STATUS_PASS = "pass"
STATUS_FAIL = "fail"
STATUS_PENDING = "pending"
STATUSES = (STATUS_PASS, STATUS_FAIL, STATUS_PENDING)

CODE_DNS_TIMEOUT = "dns_timeout"
DEFAULT_DNS_PORT = 53
MAX_CNAME_HOPS = 8


@dataclass(frozen=True)
class CheckResult:
    """Outcome of one domain check: ``status`` is 'pass', 'fail' or 'pending' (retry later)."""

    status: str
    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")

    @property
    def passed(self) -> bool:
        return self.status == STATUS_PASS

    @property
    def pending(self) -> bool:
        return self.status == STATUS_PENDING


def pending_result(exc: DnsTimeout, what: str) -> CheckResult:
    """A 'not yet' result for a DNS timeout: never a failure, the next check will retry."""
    reason = exc.user_message
    return CheckResult(
        STATUS_PENDING,
        CODE_DNS_TIMEOUT,
        f"Could not check {what} yet: the DNS servers did not answer in time. "
        "This is not a problem with your records; the check will run again.",
        {"reason": reason},
    )


# ---- nameserver configuration ----------------------------------------------------------------


def _parse_entry(entry: str) -> tuple[str, int]:
    text = entry.strip()
    host, port = text, DEFAULT_DNS_PORT
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep:
            raise ValueError(f"Nameserver {entry!r}: missing ']' after the IPv6 address.")
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"Nameserver {entry!r}: expected ':port' after ']'.")
            port = _parse_port(entry, rest[1:])
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = _parse_port(entry, port_text)
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"Nameserver {entry!r} is not an IP address (write e.g. 192.0.2.53 or 192.0.2.53:5353)."
        ) from None
    return str(address), port


def _parse_port(entry: str, text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"Nameserver {entry!r}: the port must be a number from 1 to 65535.")
    return int(text)


def parse_nameservers(param_value: str | None) -> list[str]:
    """Split the system parameter value into validated entries ('' or None gives [])."""
    if not param_value:
        return []
    entries = [part for chunk in param_value.split(",") for part in chunk.split()]
    result = []
    for entry in entries:
        address, port = _parse_entry(entry)
        if ":" in address:
            result.append(f"[{address}]:{port}" if port != DEFAULT_DNS_PORT else address)
        else:
            result.append(f"{address}:{port}" if port != DEFAULT_DNS_PORT else address)
    return result


def make_resolver(
    nameservers: list[str] | None = None, timeout: float = 3.0
) -> dns.resolver.Resolver:
    """A cache-less resolver: the given nameservers, or the system's when none are given.

    ``timeout`` bounds one whole lookup (all servers and retries together).
    """
    if nameservers:
        resolver = dns.resolver.Resolver(configure=False)
        parsed = [_parse_entry(entry) for entry in nameservers]
        resolver.nameservers = [dns.nameserver.Do53Nameserver(ip, port) for ip, port in parsed]
        ports = {port for _, port in parsed}
        if len(ports) == 1:
            resolver.port = ports.pop()
    else:
        try:
            resolver = dns.resolver.Resolver(configure=True)
        except dns.resolver.NoResolverConfiguration:
            raise DnsTimeout(
                "This server has no DNS resolver configured; set the system parameter "
                "crm_mail_channel.dns_nameservers."
            ) from None
    resolver.cache = None
    resolver.timeout = timeout
    resolver.lifetime = timeout
    return resolver


# ---- lookups ---------------------------------------------------------------------------------


def normalize_domain(domain: str) -> str:
    """Lower-case ASCII (IDNA) form without the trailing dot; ValueError when not a name."""
    text = (domain or "").strip().rstrip(".").lower()
    if not text or "@" in text or " " in text:
        raise ValueError(f"{domain!r} is not a domain name.")
    try:
        name = dns.name.from_text(text)
    except dns.exception.DNSException:
        raise ValueError(f"{domain!r} is not a domain name.") from None
    return name.to_text(omit_final_dot=True)


@dataclass(frozen=True)
class RecordSet:
    """Records found for a name, and the name they were found at after CNAMEs."""

    rdatas: list[Any]
    canonical_name: str


def resolve_records(resolver: dns.resolver.Resolver, name: str, rdtype: str) -> RecordSet | None:
    """Records of ``rdtype`` at ``name`` (CNAMEs chased), None when absent.

    Raises ``DnsTimeout`` on timeouts and on SERVFAIL/REFUSED from every server.
    """
    qname = dns.name.from_text(name)
    seen = {qname}
    for _ in range(MAX_CNAME_HOPS):
        try:
            answer = resolver.resolve(qname, rdtype, raise_on_no_answer=False, search=False)
        except dns.resolver.NXDOMAIN:
            return None
        except dns.exception.Timeout:
            raise DnsTimeout(
                f"The DNS servers did not answer in time for {name} ({rdtype})."
            ) from None
        except dns.resolver.NoNameservers:
            raise DnsTimeout(f"No DNS server gave a usable answer for {name} ({rdtype}).") from None
        canonical = answer.canonical_name
        if answer.rrset is not None:
            return RecordSet(list(answer.rrset), canonical.to_text(omit_final_dot=True))
        if canonical == qname or canonical in seen:
            return None
        seen.add(canonical)
        qname = canonical
    return None


def txt_to_str(rdata: Any) -> str:
    """One TXT record as a single string (its character-strings joined, RFC 7208 §3.3)."""
    return b"".join(rdata.strings).decode("utf-8", "replace")


def lookup_txt(resolver: dns.resolver.Resolver, name: str) -> list[str] | None:
    """TXT records at ``name``, each joined into one string; None for NXDOMAIN/no TXT."""
    found = resolve_records(resolver, name, "TXT")
    if found is None:
        return None
    return [txt_to_str(rdata) for rdata in found.rdatas]


__all__ = [
    "CODE_DNS_TIMEOUT",
    "STATUS_FAIL",
    "STATUS_PASS",
    "STATUS_PENDING",
    "CheckResult",
    "DnsTimeout",
    "RecordSet",
    "lookup_txt",
    "make_resolver",
    "normalize_domain",
    "parse_nameservers",
    "pending_result",
    "resolve_records",
    "txt_to_str",
]
