"""BCC dropbox decisions: addresses, sender ownership, authentication against the real Knot with
real dkimpy signatures, Authentication-Results of trusted servers, inline forwards."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import dkim
import pytest

from crm_mail_channel_core import dropbox_auth as dba
from crm_mail_channel_core.dkim_sign import (
    CLAIM_EMAIL,
    CLAIM_LOGIN,
    CLAIM_VERIFIED,
    dkim_record_name,
    dkim_txt_value,
    sign_message,
)

from .dns_fixtures import (  # noqa: F401 - fixtures
    blackhole_fixture,
    domain_fixture,
    key_pair_fixture,
    knot_fixture,
    other_key_pair_fixture,
    resolver_fixture,
    slow_resolver_fixture,
)

OWNER, COLLEAGUE = 7, 9
ALIAS = "crm.example.test"


def _raw(sender, to="buyer@acme.test", headers=None, body="Here is the quote.\n"):
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = "Quote"
    msg["Date"] = format_datetime(datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc))
    msg["Message-ID"] = make_msgid(domain="mail.example.test")
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def _claims(owner_of):
    """claims_of(address) from ``{address: [(user id, kind)]}``."""
    return lambda address: owner_of.get(address, [])


def _publish(knot, domain, key_pair, selector="s1"):
    private_pem, public_b64 = key_pair
    knot.set_txt(dkim_record_name(selector, domain), dkim_txt_value(public_b64))
    return private_pem


# ---- addresses -------------------------------------------------------------------------------


def test_token_is_long_random_and_recognised_only_on_alias_domains():
    token = dba.new_token()
    assert len(token) == 24 and token != dba.new_token()
    address = dba.dropbox_address(token, "CRM.Example.test")
    assert address == f"dropbox-{token}@crm.example.test"
    assert dba.is_dropbox_address(address, [ALIAS])
    assert not dba.is_dropbox_address(address, ["other.test"])
    assert not dba.is_dropbox_address(f"dropbox-{token[:-1]}@{ALIAS}", [ALIAS])
    assert not dba.is_dropbox_address(f"box-{token}@{ALIAS}", [ALIAS])


def test_dropbox_found_in_to_cc_and_envelope_only():
    token, other = dba.new_token(), dba.new_token()
    box, box2 = dba.dropbox_address(token, ALIAS), dba.dropbox_address(other, ALIAS)
    raw = _raw("me@example.test", to=f"buyer@acme.test, {box}")
    assert dba.dropbox_tokens(raw, [ALIAS]) == [(token, True)]
    raw = _raw("me@example.test", headers={"Cc": f"Box <{box.upper()}>"})
    assert dba.dropbox_tokens(raw, [ALIAS]) == [(token, True)]
    raw = _raw("me@example.test", headers={"Delivered-To": box})
    assert dba.dropbox_tokens(raw, [ALIAS]) == [(token, False)]
    raw = _raw("me@example.test", headers={"X-Original-To": box2, "Delivered-To": box})
    assert sorted(dba.dropbox_tokens(raw, [ALIAS])) == sorted([(token, False), (other, False)])
    # No dropbox, or one on a domain that is not an alias domain: nothing.
    assert dba.dropbox_tokens(_raw("me@example.test"), [ALIAS]) == []
    raw = _raw("me@example.test", headers={"Delivered-To": dba.dropbox_address(token, "x.test")})
    assert dba.dropbox_tokens(raw, [ALIAS]) == []
    # The cheap pre-test only looks at the headers.
    assert not dba.may_mention_dropbox(_raw("me@example.test", body=f"write to {box}\n"))


# ---- Authentication-Results ------------------------------------------------------------------


def test_parse_authentication_results_of_common_servers():
    gmail = (
        "mx.google.com;\r\n       dkim=pass header.i=@example.test header.s=s1 header.b=abc;\r\n"
        "       spf=pass (google.com: domain of me@example.test designates 192.0.2.1 as "
        "permitted sender) smtp.mailfrom=me@example.test;\r\n"
        "       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=example.test"
    )
    authserv, results = dba.parse_authentication_results(gmail)
    assert authserv == "mx.google.com"
    assert [(r.method, r.result) for r in results] == [
        ("dkim", "pass"),
        ("spf", "pass"),
        ("dmarc", "pass"),
    ]
    assert results[0].props["header.i"] == "@example.test"
    assert results[1].props["smtp.mailfrom"] == "me@example.test"
    exchange = (
        "spf=pass (sender IP is 192.0.2.1) smtp.mailfrom=example.test; dkim=none (message "
        "not signed) header.d=none;dmarc=pass action=none header.from=example.test;"
    )
    authserv, results = dba.parse_authentication_results("mx.ourco.test 1; " + exchange)
    assert authserv == "mx.ourco.test"
    assert results[0].props["smtp.mailfrom"] == "example.test"
    assert results[1].result == "none"


def test_alignment_is_relaxed_but_not_to_a_bare_tld():
    assert dba.aligned("example.test", "example.test")
    assert dba.aligned("mail.example.test", "example.test")
    assert dba.aligned("example.test", "eu.example.test")
    assert dba.aligned("me@example.test", "example.test")
    assert not dba.aligned("example.test", "other.test")
    assert not dba.aligned("test", "example.test")
    assert not dba.aligned("badexample.test", "example.test")


# ---- authentication --------------------------------------------------------------------------


def test_dkim_signature_of_the_owner_domain_verifies_in_dns(knot, resolver, domain, key_pair):
    private_pem = _publish(knot, domain, key_pair)
    sender = f"me@{domain}"
    raw = sign_message(_raw(sender), "s1", domain, private_pem)
    claims = _claims({sender: [(OWNER, CLAIM_EMAIL)]})
    dnsfunc = dba.resolver_dnsfunc(resolver)
    decision = dba.authenticate(raw, OWNER, claims, dnsfunc=dnsfunc)
    assert decision == dba.AuthDecision(True, dba.PASS_DKIM, sender)
    # LF line ends (as the mail gateway may pass them) verify too.
    assert dba.authenticate(raw.replace(b"\r\n", b"\n"), OWNER, claims, dnsfunc=dnsfunc).ok
    # The body changed after signing: refused.
    tampered = raw.replace(b"Here is the quote.", b"Pay to account 666.")
    decision = dba.authenticate(tampered, OWNER, claims, dnsfunc=dnsfunc)
    assert decision.code == dba.REFUSED_UNAUTHENTICATED


def test_unpublished_key_and_foreign_signer_are_refused(
    knot, resolver, domain, key_pair, other_key_pair
):
    sender = f"me@{domain}"
    claims = _claims({sender: [(OWNER, CLAIM_EMAIL)]})
    dnsfunc = dba.resolver_dnsfunc(resolver)
    # Signed for the From domain, but no key in DNS.
    raw = sign_message(_raw(sender), "nokey", domain, key_pair[0])
    assert dba.authenticate(raw, OWNER, claims, dnsfunc=dnsfunc).code == (
        dba.REFUSED_UNAUTHENTICATED
    )
    # A forger signs correctly with their own domain and forges the owner's From.
    forger = f"f{uuid.uuid4().hex[:8]}.customer.test"
    private_pem = _publish(knot, forger, other_key_pair)
    raw = sign_message(_raw(sender), "s1", forger, private_pem)
    assert dkim.verify(raw, dnsfunc=dba.resolver_dnsfunc(resolver))  # valid, but not aligned
    assert dba.authenticate(raw, OWNER, claims, dnsfunc=dnsfunc).code == (
        dba.REFUSED_UNAUTHENTICATED
    )
    # No signature at all.
    assert not dba.authenticate(_raw(sender), OWNER, claims, dnsfunc=dnsfunc).ok


def test_signature_with_body_length_limit_is_not_accepted(knot, resolver, domain, key_pair):
    private_pem = _publish(knot, domain, key_pair)
    sender = f"me@{domain}"
    raw = _raw(sender)
    signature = dkim.sign(
        raw, b"s1", domain.encode(), private_pem, include_headers=[b"From"], length=True
    )
    signed = signature + raw + b"Appended by someone else.\r\n"
    claims = _claims({sender: [(OWNER, CLAIM_EMAIL)]})
    decision = dba.authenticate(signed, OWNER, claims, dnsfunc=dba.resolver_dnsfunc(resolver))
    assert decision.code == dba.REFUSED_UNAUTHENTICATED


def test_only_the_owner_own_address_may_use_the_dropbox(knot, resolver, domain, key_pair):
    private_pem = _publish(knot, domain, key_pair)
    dnsfunc = dba.resolver_dnsfunc(resolver)
    colleague = f"colleague@{domain}"
    raw = sign_message(_raw(colleague), "s1", domain, private_pem)
    claims = _claims({colleague: [(COLLEAGUE, CLAIM_LOGIN)]})
    # A genuine, signed message of a colleague, into the owner's dropbox: refused.
    decision = dba.authenticate(raw, OWNER, claims, dnsfunc=dnsfunc)
    assert decision == dba.AuthDecision(False, dba.REFUSED_NOT_OWN, colleague)
    assert dba.authenticate(raw, COLLEAGUE, claims, dnsfunc=dnsfunc).ok
    # An email both users declare as theirs belongs to nobody.
    shared = _claims({colleague: [(OWNER, CLAIM_EMAIL), (COLLEAGUE, CLAIM_EMAIL)]})
    assert dba.authenticate(raw, OWNER, shared, dnsfunc=dnsfunc).code == dba.REFUSED_NOT_OWN
    # An address verified with a code beats another user's self-declared email.
    verified = _claims({colleague: [(OWNER, CLAIM_VERIFIED), (COLLEAGUE, CLAIM_EMAIL)]})
    assert dba.authenticate(raw, OWNER, verified, dnsfunc=dnsfunc).ok
    # No From, or two.
    no_from = _raw("x@example.test").replace(b"From: x@example.test\r\n", b"")
    assert dba.authenticate(no_from, OWNER, claims).code == dba.REFUSED_NO_FROM
    two = _raw(f"{colleague}, other@{domain}")
    assert dba.authenticate(two, COLLEAGUE, claims).code == dba.REFUSED_SEVERAL_FROM


def test_trusted_authentication_results_only(resolver, domain):
    sender = f"me@{domain}"
    claims = _claims({sender: [(OWNER, CLAIM_EMAIL)]})
    spf = f"mx.ourco.test; spf=pass smtp.mailfrom={sender}"
    raw = _raw(sender, headers={"Authentication-Results": spf})
    trusted = ["MX.ourco.test"]
    assert dba.authenticate(raw, OWNER, claims, trusted).code == dba.PASS_AR_SPF
    # Not a server the administrator trusts.
    assert not dba.authenticate(raw, OWNER, claims, ["mx.other.test"]).ok
    assert not dba.authenticate(raw, OWNER, claims).ok
    # SPF passed for another domain (the forger's envelope sender): not aligned.
    forged = _raw(
        sender,
        headers={
            "Authentication-Results": "mx.ourco.test; spf=pass "
            "smtp.mailfrom=bounce@evil.test; dkim=fail header.d="
            f"{domain}"
        },
    )
    assert not dba.authenticate(forged, OWNER, claims, trusted).ok
    # Aligned DKIM pass reported by the trusted server.
    dkim_ar = f"mx.ourco.test; dkim=pass header.d={domain} header.s=s1"
    raw = _raw(sender, headers={"Authentication-Results": dkim_ar})
    assert dba.authenticate(raw, OWNER, claims, trusted).code == dba.PASS_AR_DKIM


def test_forged_authentication_results_below_the_genuine_one_do_not_count(domain):
    sender = f"me@{domain}"
    claims = _claims({sender: [(OWNER, CLAIM_EMAIL)]})
    forged_by_sender = _raw(
        sender,
        headers={"Authentication-Results": f"mx.ourco.test; spf=pass smtp.mailfrom={sender}"},
    )
    # The receiving server prepends its own verdict (and trace) on top.
    genuine = (
        b"Authentication-Results: mx.ourco.test; spf=fail smtp.mailfrom=bounce@evil.test\r\n"
        b"Received: from evil.test by mx.ourco.test; Fri, 27 Nov 2026 10:00:01 +0000\r\n"
    )
    raw = genuine + forged_by_sender
    assert dba.authenticate(raw, OWNER, claims, ["mx.ourco.test"]).code == (
        dba.REFUSED_UNAUTHENTICATED
    )


def test_dns_that_does_not_answer_is_reported_apart(slow_resolver, domain, key_pair):
    sender = f"me@{domain}"
    raw = sign_message(_raw(sender), "s1", domain, key_pair[0])
    claims = _claims({sender: [(OWNER, CLAIM_EMAIL)]})
    decision = dba.authenticate(raw, OWNER, claims, dnsfunc=dba.resolver_dnsfunc(slow_resolver))
    assert decision.code == dba.REFUSED_DNS


# ---- forwards --------------------------------------------------------------------------------

GMAIL = """Have a look at this.

---------- Forwarded message ---------
From: Joe Customer <joe@acme.test>
Date: Thu, Nov 26, 2026 at 4:12 PM
Subject: Chairs
To: Alice Seller <alice@ourco.test>
Cc: Ann <ann@acme.test>


We need 12 chairs.
"""

OUTLOOK = """FYI

________________________________
From: Joe Customer <joe@acme.test>
Sent: Thursday, November 26, 2026 16:12
To: Alice Seller <alice@ourco.test>; Bob <bob@acme.test>
Subject: Chairs

We need 12 chairs.
"""

OUTLOOK_OLD = """-----Original Message-----
From: Joe Customer [mailto:joe@acme.test]
Sent: Thursday, November 26, 2026 4:12 PM
To: alice@ourco.test
Subject: Chairs
"""

APPLE = """Begin forwarded message:

From: Joe Customer <joe@acme.test>
Subject: Chairs
Date: 26 November 2026 at 16:12:00 CET
To: alice@ourco.test
"""


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (GMAIL, ["joe@acme.test", "alice@ourco.test", "ann@acme.test"]),
        (OUTLOOK, ["joe@acme.test", "alice@ourco.test", "bob@acme.test"]),
        (OUTLOOK_OLD, ["joe@acme.test", "alice@ourco.test"]),
        (APPLE, ["joe@acme.test", "alice@ourco.test"]),
    ],
)
def test_inline_forward_header_block(body, expected):
    found = dba.inline_forward(body)
    assert found is not None
    assert found.email_from[1] == "joe@acme.test"
    assert found.subject == "Chairs"
    assert found.addresses() == expected


def test_text_without_a_forward_block():
    assert dba.inline_forward("Hello,\nFrom: the team\nThanks") is None
    assert dba.inline_forward("---------- Forwarded message ---------\nno headers\n") is None
    assert dba.inline_forward("") is None


def test_attached_forward_gives_the_complete_original():
    original = _raw("Joe <joe@acme.test>", to="alice@ourco.test")
    fwd = EmailMessage()
    fwd["From"] = "alice@ourco.test"
    fwd["To"] = "dropbox@crm.example.test"
    fwd["Subject"] = "Fwd: Quote"
    fwd.set_content("See attached.")
    fwd.add_attachment(original, maintype="message", subtype="rfc822", filename="quote.eml")
    found = dba.attached_messages(fwd.as_bytes())
    assert len(found) == 1
    assert dba.sender_addresses(found[0]) == ["joe@acme.test"]
    assert b"Here is the quote." in found[0]
    assert dba.attached_messages(original) == []


def test_key_cache_serves_a_batch_from_one_lookup(knot, resolver, domain, key_pair):
    private_pem = _publish(knot, domain, key_pair, selector="c1")
    sender = f"me@{domain}"
    claims = _claims({sender: [(OWNER, CLAIM_EMAIL)]})
    cache = dba.TxtCache(ttl=60)
    cached = dba.resolver_dnsfunc(resolver, cache)
    first = sign_message(_raw(sender), "c1", domain, private_pem)
    assert dba.authenticate(first, OWNER, claims, dnsfunc=cached).ok
    knot.delete(dkim_record_name("c1", domain))
    second = sign_message(_raw(sender), "c1", domain, private_pem)
    # Within its TTL the key found for the first message serves the next ones...
    assert dba.authenticate(second, OWNER, claims, dnsfunc=cached).ok
    # ... while a lookup without the cache sees the key gone.
    fresh = dba.resolver_dnsfunc(resolver)
    assert not dba.authenticate(second, OWNER, claims, dnsfunc=fresh).ok
