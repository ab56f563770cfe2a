"""Email Insights: classifying a request on a tracking pixel or link (plain Python)."""

from __future__ import annotations

import pytest

from crm_mail_channel_core.tracking_origin import Request, classify, truncate_ip

DESKTOP_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36"
)
IPHONE_MAIL = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148"
)
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
LATER = 3600.0


def _origin(**kw):
    kw.setdefault("event_type", "open")
    kw.setdefault("user_agent", DESKTOP_CHROME)
    kw.setdefault("ip", "198.51.100.7")
    kw.setdefault("seconds_since_sent", LATER)
    return classify(Request(**kw))


def test_a_browser_an_hour_later_is_human():
    origin, reasons = _origin()
    assert origin == "human"
    assert reasons


def test_a_phone_mail_client_is_human():
    assert _origin(user_agent=IPHONE_MAIL)[0] == "human"


def test_gmail_image_proxy_is_proxy():
    origin, reasons = _origin(user_agent=GMAIL_PROXY, ip="66.249.84.10")
    assert origin == "proxy"
    assert "GoogleImageProxy" in reasons[0]


def test_apple_privacy_protection_is_prefetch():
    assert _origin(user_agent="Mozilla/5.0", ip="17.58.100.1")[0] == "prefetch"
    # the bare agent alone, and Apple's network alone
    assert _origin(user_agent="Mozilla/5.0")[0] == "prefetch"
    assert _origin(user_agent=IPHONE_MAIL, ip="17.1.2.3")[0] == "prefetch"


def test_apple_network_click_is_not_prefetch():
    # Apple's proxy fetches images, never links: a click from an iPhone on iCloud Private
    # Relay-like addresses is the reader's.
    assert _origin(event_type="click", user_agent=IPHONE_MAIL, ip="17.1.2.3")[0] == "human"


@pytest.mark.parametrize(
    "agent",
    [
        "Barracuda Sentinel (EE)",
        "Mozilla/5.0 Proofpoint URL Defense",
        "Mimecast-Url-Protect/1.0",
        "Microsoft Office Protocol Discovery",
        "python-requests/2.31.0",
        "curl/8.5.0",
        "Wget/1.21",
        "Go-http-client/1.1",
    ],
)
def test_known_scanner_agents(agent):
    origin, reasons = _origin(event_type="click", user_agent=agent)
    assert origin == "scanner"
    assert "user agent" in reasons[0]


def test_head_request_is_scanner():
    origin, reasons = _origin(event_type="click", method="HEAD")
    assert origin == "scanner"
    assert "HEAD" in reasons[0]


def test_no_user_agent_is_scanner():
    assert _origin(user_agent="")[0] == "scanner"


def test_within_machine_window_is_scanner():
    origin, reasons = _origin(seconds_since_sent=3.0)
    assert origin == "scanner"
    assert "machine window 10" in reasons[0]
    # the window is a setting
    assert _origin(seconds_since_sent=3.0, machine_window=2.0)[0] == "human"
    assert _origin(seconds_since_sent=25.0, machine_window=30.0)[0] == "scanner"


def test_click_burst_is_scanner():
    origin, reasons = _origin(event_type="click", seconds_since_previous_click=0.3)
    assert origin == "scanner"
    assert "burst" in reasons[0]
    assert _origin(event_type="click", seconds_since_previous_click=5.0)[0] == "human"
    # opens are not clicks: no burst rule
    assert _origin(event_type="open", seconds_since_previous_click=0.3)[0] == "human"


def test_sender_session_is_self_whatever_else():
    origin, reasons = _origin(sender_session=True, seconds_since_sent=1.0)
    assert origin == "self"
    assert "sender" in reasons[0]
    # the other signs are kept as reasons too
    assert any("machine window" in r for r in reasons)
    assert _origin(internal_session=True)[0] == "self"


def test_scanner_wins_over_proxy_and_prefetch():
    assert _origin(user_agent="Mozilla/5.0", method="HEAD")[0] == "scanner"
    assert _origin(user_agent=GMAIL_PROXY, seconds_since_sent=1.0)[0] == "scanner"


def test_truncate_ip():
    assert truncate_ip("203.0.113.77") == "203.0.113.0/24"
    assert truncate_ip("2001:db8:1234:5678::1") == "2001:db8:1234::/48"
    assert truncate_ip("::ffff:198.51.100.9") == "198.51.100.0/24"
    assert truncate_ip("not an ip") == ""
    assert truncate_ip("") == ""
