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
