"""Email Insights: who made a request on a tracking pixel or link (plain Python, no Odoo).

``classify`` takes what one request tells and returns ``(origin, reasons)``:

- ``self``: the request carries the Odoo session of the sender (or of another internal user):
  somebody of the organisation looked at the mail, not the recipient.
- ``scanner``: security gateways and link checkers. Signs used: a ``HEAD`` request; a
  known scanner or script user agent (``SCANNER_AGENTS``: Barracuda, Proofpoint, Mimecast,
  Microsoft Defender / Safe Links and "Microsoft Office Protocol Discovery", Cisco IronPort,
  FireEye, Symantec/Broadcom, Trend Micro, Sophos, Fortinet, python-requests, curl, wget,
  Go/Java/Node HTTP clients, headless browsers...); no user agent at all; a hit within the
  machine window after sending (10 s by default); a click less than a second after the
  previous click on the same copy (a scanner follows every link at once).
- ``prefetch``: Apple Mail Privacy Protection, which fetches images through Apple's proxy
  when the mail is delivered, whether or not it is read. Signs used: the bare user agent
  ``Mozilla/5.0`` with no platform details (Apple's proxy sends exactly that), together with
  or instead of an address in Apple's network 17.0.0.0/8; an open from Apple's network with
  any agent is counted as prefetch too.
- ``proxy``: an image proxy fetching for a reader who opened the mail (Gmail's
  ``GoogleImageProxy``, Yahoo's ``YahooMailProxy``): an open, but no device nor time of day.
- ``human``: anything else.

The order above is the order of the checks: the first that matches decides; all matching
signs are kept in ``reasons``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

ORIGINS = ("human", "proxy", "prefetch", "scanner", "self")
MACHINE_ORIGINS = ("prefetch", "scanner", "self")
DEFAULT_MACHINE_WINDOW = 10.0
BURST_SECONDS = 1.0

# Lower-case substrings of user agents of security scanners, link checkers and scripts.
SCANNER_AGENTS = (
    "barracuda",
    "proofpoint",
    "mimecast",
    "microsoft office protocol discovery",
    "ms-office",  # Office link pre-checks
    "microsoft defender",
    "safelinks",
    "safe links",
    "bingpreview",
    "ironport",
    "fireeye",
    "symantec",
    "messagelabs",
    "trendmicro",
    "trend micro",
    "sophos",
    "fortiguard",
    "forcepoint",
    "zscaler",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "httpx",
    "curl/",
    "wget/",
    "go-http-client",
    "java/",
    "okhttp",
    "node-fetch",
    "axios/",
    "libwww-perl",
    "headlesschrome",
    "phantomjs",
    "scanner",
    "bot/",
    "spider",
    "crawler",
)
PROXY_AGENTS = (
    ("googleimageproxy", "Gmail image proxy (GoogleImageProxy)"),
    ("yahoomailproxy", "Yahoo Mail image proxy"),
)
APPLE_NETWORKS = (ipaddress.ip_network("17.0.0.0/8"),)
APPLE_BARE_AGENT = "mozilla/5.0"


@dataclass(frozen=True)
class Request:
    """What one request on a pixel or link tells."""

    event_type: str  # "open" or "click"
    method: str = "GET"
    user_agent: str = ""
    ip: str = ""
    seconds_since_sent: float | None = None
    seconds_since_previous_click: float | None = None
    sender_session: bool = False  # the sender's own Odoo session
    internal_session: bool = False  # another internal user's Odoo session
    machine_window: float = DEFAULT_MACHINE_WINDOW


def _in_networks(ip, networks):
    try:
        address = ipaddress.ip_address((ip or "").strip())
    except ValueError:
        return False
    return any(address in network for network in networks)


def classify(request: Request) -> tuple[str, list[str]]:
    """``(origin, reasons)`` of one request (see the module's docstring)."""
    agent = (request.user_agent or "").strip()
    low = agent.lower()
    method = (request.method or "GET").upper()
    found = {origin: [] for origin in ORIGINS}

    if request.sender_session:
        found["self"].append("request carries the sender's own Odoo session")
    elif request.internal_session:
        found["self"].append("request carries an internal user's Odoo session")

    if method == "HEAD":
        found["scanner"].append("HEAD request (a link checker, not a browser)")
    if not agent:
        found["scanner"].append("no user agent")
    for needle in SCANNER_AGENTS:
        if needle in low:
            found["scanner"].append(f"scanner or script user agent ({needle.strip('/')})")
            break
    since = request.seconds_since_sent
    if since is not None and since < request.machine_window:
        found["scanner"].append(
            f"{since:.1f} s after sending (machine window {request.machine_window:g} s)"
        )
    burst = request.seconds_since_previous_click
    if request.event_type == "click" and burst is not None and burst < BURST_SECONDS:
        found["scanner"].append(f"clicked {burst:.2f} s after the previous link (a burst)")

    apple_ip = _in_networks(request.ip, APPLE_NETWORKS)
    bare = low == APPLE_BARE_AGENT
    if request.event_type == "open":
        if bare and apple_ip:
            found["prefetch"].append(
                "Apple Mail Privacy Protection (bare 'Mozilla/5.0' agent from Apple's network)"
            )
        elif bare:
            found["prefetch"].append(
                "Apple Mail Privacy Protection (bare 'Mozilla/5.0' agent, no device details)"
            )
        elif apple_ip:
            found["prefetch"].append("fetched from Apple's network 17.0.0.0/8 (Mail Privacy)")

    for needle, label in PROXY_AGENTS:
        if needle in low:
            found["proxy"].append(label)

    for origin in ("self", "scanner", "prefetch", "proxy"):
        if found[origin]:
            reasons = found[origin] + [
                reason for other in ORIGINS if other != origin for reason in found[other]
            ]
            return origin, reasons
    return "human", ["a browser or mail client with none of the machine signs"]


def truncate_ip(ip: str) -> str:
    """The network of ``ip``: IPv4 /24, IPv6 /48 (never the full address); "" if invalid."""
    try:
        address = ipaddress.ip_address((ip or "").strip())
    except ValueError:
        return ""
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
