"""Excluded-domain policy for email sharing (no Odoo imports).

An email is *excluded* from a public owner's sharing when every outside participant (every
address in From/To/Cc other than the owner's own addresses) belongs to an excluded domain.
Mail to oneself has no outside participant and counts as excluded, so it stays private.
A domain matches itself and its subdomains: ``example.com`` excludes ``mail.example.com``.
"""

import re
from email.utils import getaddresses

_SPLIT = re.compile(r"[\s,;]+")


def parse_domain_list(text):
    """Normalised, de-duplicated domains from free text ("a.com, b.org\\nc.net")."""
    domains = []
    for token in _SPLIT.split(text or ""):
        token = token.strip().lower().lstrip("@").rstrip(".")
        if "@" in token:
            token = token.rsplit("@", 1)[1]
        if token and token not in domains:
            domains.append(token)
    return domains


def addresses_of(*headers):
    """Lower-cased addresses found in address headers (From, To, Cc)."""
    found = []
    for _name, addr in getaddresses([h for h in headers if h]):
        addr = (addr or "").strip().lower()
        if "@" in addr and addr not in found:
            found.append(addr)
    return found


def domain_is_excluded(domain, excluded):
    domain = (domain or "").lower()
    return any(domain == ex or domain.endswith("." + ex) for ex in excluded)


def is_excluded(participants, own_addresses, excluded_domains):
    """True when all outside participants are in excluded domains (or there are none)."""
    own = {a.lower() for a in own_addresses if a}
    outside = [a for a in participants if a.lower() not in own]
    return all(domain_is_excluded(a.rsplit("@", 1)[-1], excluded_domains) for a in outside)


# Public mailbox providers: a company whose own address is at one of these does not make
# every customer of that provider a colleague.
PUBLIC_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "yahoo.com",
        "ymail.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "mail.com",
        "proton.me",
        "protonmail.com",
        "zoho.com",
        "yandex.com",
        "yandex.ru",
        "qq.com",
        "163.com",
    }
)


def host_of_website(url):
    """``acme.com`` from ``https://www.acme.com/about`` (None when there is no host)."""
    text = (url or "").strip().lower()
    if "://" in text:
        text = text.split("://", 1)[1]
    host = text.split("/", 1)[0].split(":", 1)[0].strip(".")
    if host.startswith("www."):
        host = host[4:]
    return host if "." in host else None


def own_domains(company_emails=(), websites=(), other_domains=()):
    """The company's own mail domains, public mailbox providers left out."""
    found = set()
    for address in company_emails:
        for addr in addresses_of(address):
            found.add(addr.rsplit("@", 1)[1])
    for url in websites:
        host = host_of_website(url)
        if host:
            found.add(host)
    for domain in other_domains:
        found.update(parse_domain_list(domain))
    return sorted(found - PUBLIC_MAIL_DOMAINS)


def is_colleague_mail(participants, internal_addresses, domains):
    """True when every participant is a user of the organisation or at one of its domains.

    Such mail is between colleagues and is never shared, whatever the sharing settings.
    Mail without any participant is not colleague mail (nothing is known about it).
    """
    internal = {a.lower() for a in internal_addresses if a}
    if not participants:
        return False
    return all(
        address.lower() in internal or domain_is_excluded(address.rsplit("@", 1)[-1], domains)
        for address in participants
    )
