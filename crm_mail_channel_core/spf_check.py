"""SPF: check that a domain authorises our outgoing servers, and suggest the record to publish.

Each term is checked by pyspf's own validator (RFC 7208 syntax, IP and domain-spec rules) and
its verdict put in plain words. The structural checks then read the record (and the records
it includes) to say precisely what is wrong: where our servers are reached, whether an
``all`` comes first, how many DNS lookups the whole policy needs and whether includes loop.
pyspf has no such static view (it evaluates one IP and stops at the first match), so that part
is ours. When the outgoing server's IP is known, pyspf then evaluates the policy as a receiver
would. pyspf resolves through a module-level ``spf.DNSLookup`` function: we replace
it once with a dispatcher that uses the resolver set for the current thread/context (a
``ContextVar``) and falls back to pyspf's own lookup otherwise, so concurrent checks with
different resolvers do not interfere and nothing has to be restored.
"""

from __future__ import annotations

import contextvars
import ipaddress
import threading
from dataclasses import dataclass
from typing import Any

import dns.resolver
import spf

from .dns_check import (
    STATUS_FAIL,
    STATUS_PASS,
    STATUS_PENDING,
    CheckResult,
    lookup_txt,
    normalize_domain,
    pending_result,
    resolve_records,
)
from .errors import DnsTimeout

MAX_DNS_LOOKUPS = spf.MAX_LOOKUP  # RFC 7208 §4.6.4
DNS_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})
MECHANISMS = frozenset(spf.ALL_MECHANISMS)
DEFAULT_ALL = "~all"

# pyspf's reasons for rejecting a term, in words for the domain's admin.
_PLAIN_TERM_ERRORS = {
    "Invalid IP4 address": "does not contain a valid IPv4 address",
    "Invalid IP6 address": "does not contain a valid IPv6 address",
    "Invalid IP4 CIDR length": "has a network size (after '/') that is too large",
    "Invalid IP6 CIDR length": "has a network size (after '/') that is too large",
    "Dual CIDR not allowed": "cannot have a network size (after '/') here",
    "CIDR not allowed": "cannot have a network size (after '/') here",
    "Invalid domain found (use FQDN)": "does not contain a valid domain name",
    "empty domain:": "does not contain a valid domain name",
    "include mechanism missing domain": "needs a domain, e.g. include:spf.example.com",
    "implicit exists not allowed": "needs a domain, e.g. exists:spf.example.com",
    "include has trivial recursion": "includes its own domain",
    "Do not separate mechnisms with commas": "is followed by a comma; separate terms with spaces",
    "Invalid all mechanism format - only qualifier allowed with all": (
        "is not valid: 'all' takes no value"
    ),
    "Use the ip4 mechanism for ip4 addresses": "names an IP address: write ip4: instead",
    "Missing IP4": "names an IP address: write ip4: before it",
}


# ---- parsing ---------------------------------------------------------------------------------


def is_spf_record(txt: str) -> bool:
    """True for a TXT value that is an SPF record (starts with the ``v=spf1`` version)."""
    return bool(spf.RE_SPF.match(txt.strip().encode("utf-8", "replace")))


@dataclass(frozen=True)
class SpfTerm:
    """One term of an SPF record: a mechanism (with qualifier) or a modifier."""

    raw: str
    name: str
    value: str
    qualifier: str = "+"
    modifier: bool = False

    @property
    def is_all(self) -> bool:
        return not self.modifier and self.name == "all"

    @property
    def queries_dns(self) -> bool:
        return self.name in DNS_MECHANISMS if not self.modifier else self.name == "redirect"


def _validator() -> spf.query:
    """A pyspf query used only to validate terms; its sender and IP matter for macros only."""
    query = spf.query(i="192.0.2.1", s="postmaster@spf-term.invalid", h="spf-term.invalid")
    query.p = "unknown"  # the %{p} macro would otherwise look up the PTR of that IP
    return query


def parse_term(raw: str) -> SpfTerm:
    """Parse one term with pyspf's checks; ValueError with a plain message when not valid SPF."""
    text = raw.strip()
    modifier = spf.RE_MODIFIER.match(text)
    if modifier:
        name = modifier.group(1).lower()
        if name in MECHANISMS:
            raise ValueError(f"'{text}' is not valid: write {name}:value, not {name}=value.")
        return SpfTerm(text, name, text.split("=", 1)[1], "", modifier=True)
    try:
        _mech, name, _arg, _cidr, _result = _validator().validate_mechanism(text)
    except spf.PermError as exc:
        problem = _PLAIN_TERM_ERRORS.get(exc.msg)
        raise ValueError(
            f"'{text}' {problem}." if problem else f"'{text}' is not a valid SPF term."
        ) from None
    qualifier = text[0] if text[0] in "+-~?" else "+"
    value = text.lstrip("+-~?")[len(name) :]
    return SpfTerm(text, name, value[1:] if value.startswith(":") else value, qualifier)


def parse_spf(record: str) -> list[SpfTerm]:
    """Terms of an SPF record (without the version); ValueError on syntax errors."""
    if not is_spf_record(record):
        raise ValueError("An SPF record must start with 'v=spf1'.")
    return [parse_term(part) for part in record.split()[1:]]


def _target(term: SpfTerm, domain: str) -> str:
    """The domain a term points at ('a' and 'mx' without a value mean the current domain)."""
    value = term.value
    if term.name in ("a", "mx") and (not value or value.startswith("/")):
        return domain
    if term.name in ("a", "mx"):
        value = value.split("/", 1)[0]
    return value.lower().rstrip(".")


def _covers(term: SpfTerm, term_domain: str, wanted: SpfTerm, wanted_domain: str) -> bool:
    """Whether ``term`` authorises (with a pass) what the required mechanism ``wanted`` does."""
    if term.modifier or term.qualifier != "+" or term.name != wanted.name:
        return False
    if term.name in ("ip4", "ip6"):
        have = ipaddress.ip_network(term.value, strict=False)
        need = ipaddress.ip_network(wanted.value, strict=False)
        return need.subnet_of(have)  # type: ignore[arg-type]
    return _target(term, term_domain) == _target(wanted, wanted_domain)


def _parse_required(required: list[str] | str) -> list[SpfTerm]:
    items = (
        required.split()
        if isinstance(required, str)
        else [part for item in required for part in item.split()]
    )
    terms = []
    for item in items:
        term = parse_term(item)
        if term.modifier or term.is_all or term.qualifier != "+":
            raise ValueError(f"'{item}' is not a mechanism that can be required.")
        terms.append(term)
    return terms


# ---- suggestion --------------------------------------------------------------------------------


def suggest_spf_record(current_records: list[str], mechanism: str) -> str:
    """The single SPF record to publish so that it contains ``mechanism`` (one or more terms).

    The mechanisms are inserted before the ``all`` term of the existing record (or before its
    modifiers when it has no ``all``), so nothing the domain already authorises changes. Without
    a record the result is ``v=spf1 <mechanism> ~all``. When the domain wrongly has several SPF
    records, their mechanisms are merged into one record (first ``all`` and modifiers kept), since
    receivers reject a domain with two.
    """
    wanted = _parse_required(mechanism)
    wanted_raw = [term.raw for term in wanted]
    records = [record for record in current_records if is_spf_record(record)]
    if not records:
        return " ".join(["v=spf1", *wanted_raw, DEFAULT_ALL])

    before: list[SpfTerm] = []
    after: list[SpfTerm] = []
    modifiers: list[SpfTerm] = []
    all_term: SpfTerm | None = None
    for index, record in enumerate(records):
        seen_all = False
        for raw in record.split()[1:]:
            try:
                term = parse_term(raw)
            except ValueError:
                # Keep what we do not understand where it was: it is the owner's to fix.
                term = SpfTerm(raw, raw.lower(), "", "+")
            if term.modifier:
                if all(existing.name != term.name for existing in modifiers):
                    modifiers.append(term)
            elif term.is_all:
                seen_all = True
                all_term = all_term or term
            elif seen_all:
                # Terms after 'all' are never evaluated; only the first record keeps them.
                if index == 0:
                    after.append(term)
            elif all(existing.raw.lower() != term.raw.lower() for existing in before):
                before.append(term)

    domain = "domain.invalid"
    missing = [
        term
        for term in wanted
        if not any(
            _covers(have, domain, term, domain) for have in before if have.name in MECHANISMS
        )
    ]
    after = [
        term
        for term in after
        if not any(
            term.name in MECHANISMS and _covers(term, domain, need, domain) for need in missing
        )
    ]
    terms = [t.raw for t in before] + [t.raw for t in missing]
    if all_term is not None:
        terms.append(all_term.raw)
    terms += [t.raw for t in after] + [t.raw for t in modifiers]
    return " ".join(["v=spf1", *terms])


# ---- structural check --------------------------------------------------------------------------


class _SpfTree:
    """Fetches and caches the SPF records a domain's policy reaches through include/redirect."""

    def __init__(self, resolver: dns.resolver.Resolver) -> None:
        self.resolver = resolver
        self._records: dict[str, list[str] | None] = {}
        self.loop: tuple[str, str] | None = None  # (domain, target) of an include loop

    def records(self, domain: str) -> list[str] | None:
        if domain not in self._records:
            found = lookup_txt(self.resolver, domain)
            self._records[domain] = (
                None if found is None else [r for r in found if is_spf_record(r)] or None
            )
        return self._records[domain]

    def terms(self, domain: str) -> list[SpfTerm] | None:
        """Parsed terms of the single SPF record of ``domain`` (None when none or unusable)."""
        records = self.records(domain)
        if not records or len(records) != 1:
            return None
        try:
            return parse_spf(records[0])
        except ValueError:
            return None

    def count_lookups(self, domain: str, stack: tuple[str, ...] = (), limit: int = 50) -> int:
        """DNS-querying terms evaluated for ``domain``, through includes and redirect."""
        terms = self.terms(domain) or []
        has_all = any(term.is_all for term in terms)
        total = 0
        for term in terms:
            if not term.queries_dns or (term.name == "redirect" and has_all):
                continue
            total += 1
            if term.name in ("include", "redirect") and total < limit:
                target = _target(term, domain)
                if target in (*stack, domain):
                    # A receiver would go round until it passes the limit.
                    self.loop = self.loop or (domain, target)
                    total = max(total, MAX_DNS_LOOKUPS + 1)
                elif "%" not in target:
                    total += self.count_lookups(target, (*stack, domain), limit - total)
            if total >= limit:
                break
        return total

    def find(
        self, domain: str, wanted: SpfTerm, wanted_domain: str, stack: tuple[str, ...] = ()
    ) -> list[str] | None:
        """Chain of domains through which ``wanted`` is reached before any ``all``, or None."""
        terms = self.terms(domain) or []
        for term in terms:
            if term.is_all:
                return None
            if _covers(term, domain, wanted, wanted_domain):
                return [domain]
            if term.name == "include" and term.qualifier == "+":
                target = _target(term, domain)
                if "%" not in target and target not in stack and len(stack) < 10:
                    path = self.find(target, wanted, wanted_domain, (*stack, domain))
                    if path:
                        return [domain, *path]
        redirect = next((t for t in terms if t.modifier and t.name == "redirect"), None)
        if redirect and len(stack) < 10:
            target = _target(redirect, domain)
            if "%" not in target and target not in stack:
                path = self.find(target, wanted, wanted_domain, (*stack, domain))
                if path:
                    return [domain, *path]
        return None


def _fail(code: str, message: str, **details: Any) -> CheckResult:
    return CheckResult(STATUS_FAIL, code, message, details)


def check_spf(
    resolver: dns.resolver.Resolver,
    domain: str,
    required_mechanisms: list[str],
    test_ip: str | None = None,
) -> CheckResult:
    """Check the SPF policy of ``domain``: codes ``spf_missing``, ``spf_multiple``,
    ``spf_syntax``, ``spf_all_before_include``, ``spf_include_missing``,
    ``spf_too_many_lookups``, ``spf_ip_not_allowed``, ``spf_permerror``, ``dns_timeout``
    (status 'pending'), or ``spf_ok``.
    """
    domain = normalize_domain(domain)
    wanted = _parse_required(required_mechanisms)
    wanted_text = " ".join(term.raw for term in wanted)
    tree = _SpfTree(resolver)
    try:
        txt = lookup_txt(resolver, domain) or []
        records = [record for record in txt if is_spf_record(record)]
        suggestion = suggest_spf_record(records, wanted_text)
        details: dict[str, Any] = {"domain": domain, "records": records, "suggested": suggestion}
        if not records:
            return _fail(
                "spf_missing",
                f"{domain} has no SPF record. Add this TXT record at {domain}: {suggestion}",
                **details,
            )
        if len(records) > 1:
            return _fail(
                "spf_multiple",
                f"{domain} has {len(records)} SPF records; receivers treat that as an error and "
                f"may reject your mail. Replace them with this single record: {suggestion}",
                **details,
            )
        try:
            terms = parse_spf(records[0])
        except ValueError as exc:
            return _fail(
                "spf_syntax",
                f"The SPF record of {domain} is not valid: {exc} Receivers will ignore it.",
                **details,
            )

        all_index = next((i for i, term in enumerate(terms) if term.is_all), None)
        late, missing, paths = [], [], {}
        for need in wanted:
            path = tree.find(domain, need, domain)
            if path:
                paths[need.raw] = path
                continue
            late_term = all_index is not None and any(
                _covers(term, domain, need, domain)
                or (term.name == "include" and tree.find(_target(term, domain), need, domain))
                for term in terms[all_index + 1 :]
            )
            (late if late_term else missing).append(need.raw)
        details["found_via"] = paths
        if late:
            all_raw = terms[all_index].raw  # type: ignore[index]
            return _fail(
                "spf_all_before_include",
                f"In the SPF record of {domain}, '{all_raw}' comes before {' '.join(late)}. "
                f"Receivers stop reading at '{all_raw}', so our servers are not authorised. "
                f"Use this record instead: {suggestion}",
                **details,
            )
        if missing:
            return _fail(
                "spf_include_missing",
                f"The SPF record of {domain} does not authorise our servers "
                f"({' '.join(missing)} is missing). Replace it with: {suggestion}",
                **details,
            )
        lookups = tree.count_lookups(domain)
        details["dns_lookups"] = lookups
        if tree.loop:
            details["loop"] = list(tree.loop)
            return _fail(
                "spf_too_many_lookups",
                f"The SPF policy of {domain} goes round in a circle: {tree.loop[0]} includes "
                f"{tree.loop[1]}, which leads back to it. Receivers give up after "
                f"{MAX_DNS_LOOKUPS} DNS lookups and treat the record as an error.",
                **details,
            )
        if lookups > MAX_DNS_LOOKUPS:
            return _fail(
                "spf_too_many_lookups",
                f"The SPF record of {domain} needs {lookups} DNS lookups (counting what it "
                f"includes); the limit is {MAX_DNS_LOOKUPS}, beyond which receivers treat it as "
                "an error. Remove includes you no longer use, or replace some with ip4:/ip6: "
                "addresses.",
                **details,
            )
    except DnsTimeout as exc:
        return pending_result(exc, f"the SPF record of {domain}")

    if test_ip:
        result, explanation = evaluate_spf(resolver, domain, test_ip)
        details.update(test_ip=test_ip, spf_result=result, spf_explanation=explanation)
        if result == "temperror":
            return CheckResult(
                STATUS_PENDING,
                "dns_timeout",
                f"Could not check the SPF record of {domain} yet: a DNS lookup did not answer "
                "in time. The check will run again.",
                details,
            )
        if result == "permerror":
            return _fail(
                "spf_permerror",
                f"Receivers cannot evaluate the SPF record of {domain}: {explanation}",
                **details,
            )
        if result != "pass":
            return _fail(
                "spf_ip_not_allowed",
                f"The SPF record of {domain} does not let our sending server ({test_ip}) send "
                f"for it (result: {result}). Replace it with: {suggestion}",
                **details,
            )
    return CheckResult(
        STATUS_PASS, "spf_ok", f"The SPF record of {domain} authorises our servers.", details
    )


# ---- RFC 7208 evaluation with pyspf ----------------------------------------------------------

_current_resolver: contextvars.ContextVar[dns.resolver.Resolver | None] = contextvars.ContextVar(
    "crm_mail_channel_spf_resolver", default=None
)
_install_lock = threading.Lock()
_original_lookup = None


def _lookup(name: str, qtype: str, strict: Any = True, timeout: float = 30) -> list:
    """pyspf's DNSLookup contract: [((name, qtype), value), ...] using our resolver."""
    resolver = _current_resolver.get()
    if resolver is None:
        return _original_lookup(name, qtype, strict, timeout)  # type: ignore[misc]
    try:
        found = resolve_records(resolver, name, qtype)
    except DnsTimeout as exc:
        raise spf.TempError(f"DNS {exc.user_message}") from None
    except ValueError:
        return []
    if found is None:
        return []
    result = []
    for rdata in found.rdatas:
        if qtype in ("A", "AAAA"):
            value: Any = rdata.address
        elif qtype == "MX":
            value = (rdata.preference, rdata.exchange)
        elif qtype == "PTR":
            value = rdata.target.to_text(True)
        elif qtype in ("TXT", "SPF"):
            value = rdata.strings
        else:
            value = rdata.to_text()
        result.append(((name, qtype), value))
    return result


def _install() -> None:
    global _original_lookup
    with _install_lock:
        if spf.DNSLookup is not _lookup:
            _original_lookup = spf.DNSLookup
            spf.DNSLookup = _lookup


def evaluate_spf(
    resolver: dns.resolver.Resolver, domain: str, ip: str, sender: str | None = None
) -> tuple[str, str]:
    """RFC 7208 result ('pass', 'fail', 'softfail', 'neutral', 'none', 'permerror',
    'temperror') for mail from ``sender`` (default postmaster@domain) sent from ``ip``."""
    ipaddress.ip_address(ip)  # ValueError early rather than a pyspf permerror
    _install()
    token = _current_resolver.set(resolver)
    try:
        query = spf.query(
            i=ip, s=sender or f"postmaster@{domain}", h=domain, timeout=resolver.lifetime
        )
        result, _code, explanation = query.check()
    finally:
        _current_resolver.reset(token)
    return result, explanation


__all__ = [
    "MAX_DNS_LOOKUPS",
    "SpfTerm",
    "check_spf",
    "evaluate_spf",
    "is_spf_record",
    "parse_spf",
    "parse_term",
    "suggest_spf_record",
]
