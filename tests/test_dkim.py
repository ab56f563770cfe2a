"""DKIM: keys, the record to publish, record checks and signing verified end to end.

Signed mail goes through smtplib to the real aiosmtpd sink; the received bytes are verified by
dkimpy against the key published in the real Knot server.
"""

from __future__ import annotations

import base64
import smtplib
import uuid
from datetime import date, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import dkim
import pytest
from cryptography.hazmat.primitives import serialization

from crm_mail_channel_core.dkim_sign import (
    CLAIM_EMAIL,
    CLAIM_LOGIN,
    CLAIM_MAILBOX,
    CLAIM_VERIFIED,
    REFUSED_NO_SENDER,
    REFUSED_NOT_OWNED,
    REFUSED_OTHER_OWNER,
    REFUSED_SHARED,
    address_owners,
    check_dkim,
    dkim_record_name,
    dkim_txt_value,
    new_selector,
    parse_tag_list,
    public_key_from_private,
    sender_refusal,
    sign_message,
    split_txt,
    verify_message,
    zone_txt_presentation,
)
from crm_mail_channel_core.domain_errors import DkimKeyError, DnsTimeout

from .dns_fixtures import (  # noqa: F401 - fixtures
    blackhole_fixture,
    domain_fixture,
    key_pair_fixture,
    knot_fixture,
    other_key_pair_fixture,
    resolver_fixture,
    slow_resolver_fixture,
    smtp_sink_fixture,
)


def _message(domain: str, subject: str = "Quote for 12 chairs") -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Sales <sales@{domain}>"
    msg["To"] = "buyer@acme.test"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime(2026, 11, 27, 10, 0, 0).astimezone())
    msg["Message-ID"] = make_msgid(domain=domain)
    msg.set_content("Hello,\n\nHere is the quote.\n.\nA line with a leading dot above.\n")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def _send(sink, raw: bytes) -> bytes:
    """Send through SMTP and return the bytes exactly as the sink received them."""
    rcpt = f"buyer-{uuid.uuid4().hex[:8]}@acme.test"
    with smtplib.SMTP(sink.host, sink.port, timeout=5) as client:
        client.sendmail("sales@customer.test", [rcpt], raw)
    # The sink records a message before it answers 250, so it is there once sendmail returns.
    for message in sink.wait_for(1):
        if rcpt in message["rcpt_tos"]:
            return message["raw"]
    raise AssertionError("message not received")


def _publish(knot, selector: str, domain: str, public_b64: str) -> None:
    knot.set_txt(dkim_record_name(selector, domain), dkim_txt_value(public_b64))


class TestKeysAndRecord:
    def test_key_pair(self, key_pair):
        private_pem, public_b64 = key_pair
        assert private_pem.startswith(b"-----BEGIN RSA PRIVATE KEY-----")
        public = serialization.load_der_public_key(base64.b64decode(public_b64))
        assert public.key_size == 2048
        assert public_key_from_private(private_pem) == public_b64

    def test_record_value_split_and_presentation(self, key_pair):
        value = dkim_txt_value(key_pair[1])
        assert value.startswith("v=DKIM1; k=rsa; p=MIIBIjAN")
        chunks = split_txt(value)
        assert len(chunks) == 2 and all(len(c) <= 255 for c in chunks)
        assert "".join(chunks) == value
        presented = zone_txt_presentation(value)
        assert presented == " ".join(f'"{c}"' for c in chunks)
        assert zone_txt_presentation('a "quoted" \\ value') == '"a \\"quoted\\" \\\\ value"'
        assert split_txt("abcdef", 4) == ["abcd", "ef"]
        with pytest.raises(ValueError):
            split_txt("x", 256)

    def test_record_name_and_selectors(self):
        assert dkim_record_name("Odoo202611", "Customer.TEST.") == (
            "odoo202611._domainkey.customer.test"
        )
        with pytest.raises(ValueError):
            dkim_record_name("bad selector", "customer.test")
        when = date(2026, 11, 5)
        assert new_selector(when=when) == "odoo202611"
        assert new_selector("crm", when=when, existing=["crm202611"]) == "crm202611-2"
        assert new_selector(when=when, existing=["odoo202611", "odoo202611-2"]) == "odoo202611-3"
        assert new_selector().startswith(f"odoo{datetime.now():%Y}")

    def test_tag_list_parsing(self):
        assert parse_tag_list("v=DKIM1; k=rsa; p=AB CD\t EF;") == {
            "v": "DKIM1",
            "k": "rsa",
            "p": "AB CD\t EF",
        }
        for bad in ("hello world", "p=a; p=b", "=x"):
            with pytest.raises(ValueError):
                parse_tag_list(bad)


class TestCheckRecord:
    def test_missing(self, resolver, domain, key_pair):
        result = check_dkim(resolver, "odoo202611", domain, key_pair[1])
        assert (result.status, result.code) == ("fail", "dkim_missing")
        assert f"odoo202611._domainkey.{domain}" in result.message
        assert dkim_txt_value(key_pair[1]) in result.message

    def test_pass_with_long_record_split_in_strings(self, knot, resolver, domain, key_pair):
        _publish(knot, "odoo202611", domain, key_pair[1])
        result = check_dkim(resolver, "odoo202611", domain, key_pair[1])
        assert (result.status, result.code) == ("pass", "dkim_ok")
        assert "cname_target" not in result.details

    def test_key_with_whitespace_and_no_version_passes(self, knot, resolver, domain, key_pair):
        public = key_pair[1]
        spaced = " ".join(public[i : i + 64] for i in range(0, len(public), 64))
        knot.set_txt(dkim_record_name("s1", domain), f"k=rsa; p={spaced}")
        assert check_dkim(resolver, "s1", domain, public).passed

    def test_wrong_key(self, knot, resolver, domain, key_pair, other_key_pair):
        _publish(knot, "s1", domain, other_key_pair[1])
        result = check_dkim(resolver, "s1", domain, key_pair[1])
        assert (result.status, result.code) == ("fail", "dkim_wrong_key")
        assert "different key" in result.message

    def test_revoked_key(self, knot, resolver, domain, key_pair):
        knot.set_txt(dkim_record_name("s1", domain), "v=DKIM1; k=rsa; p=")
        result = check_dkim(resolver, "s1", domain, key_pair[1])
        assert result.code == "dkim_wrong_key" and "revoked" in result.message

    @pytest.mark.parametrize(
        ("record", "reason"),
        [
            ("hello world", "tag=value"),
            ("v=DKIM1; k=rsa", "no public key"),
            ("v=DKIM1; k=rsa; p=!!not*base64!!", "base64"),
            ("v=DKIM2; p=AAAA", "v=DKIM1"),
            ("v=DKIM1; k=ed25519; p=AAAA", "k=ed25519"),
        ],
    )
    def test_malformed(self, knot, resolver, domain, key_pair, record, reason):
        knot.set_txt(dkim_record_name("s1", domain), record)
        result = check_dkim(resolver, "s1", domain, key_pair[1])
        assert (result.status, result.code) == ("fail", "dkim_malformed")
        assert reason in result.message

    def test_truncated_key_is_malformed(self, knot, resolver, domain, key_pair):
        # What a DNS panel that silently cuts at 255 characters publishes.
        value = dkim_txt_value(key_pair[1])[:255]
        knot.set_txt(dkim_record_name("s1", domain), value)
        result = check_dkim(resolver, "s1", domain, key_pair[1])
        assert result.code == "dkim_malformed"
        assert "cut off" in result.message

    def test_two_records_are_malformed(self, knot, resolver, domain, key_pair):
        value = dkim_txt_value(key_pair[1])
        knot.set_txt(dkim_record_name("s1", domain), [value, "v=DKIM1; p="])
        result = check_dkim(resolver, "s1", domain, key_pair[1])
        assert result.code == "dkim_malformed" and "exactly one" in result.message

    def test_cname_delegation_to_provider_passes(self, knot, resolver, domain, key_pair):
        label = domain.split(".")[0]
        provider_name = f"{label}.dkim.example.test"
        knot.set_txt(provider_name, dkim_txt_value(key_pair[1]))
        knot.set_cname(dkim_record_name("odoo", domain), provider_name)
        result = check_dkim(resolver, "odoo", domain, key_pair[1])
        assert result.passed, result.message
        assert result.details["cname_target"] == provider_name

    def test_timeout_is_pending(self, slow_resolver, key_pair):
        result = check_dkim(slow_resolver, "s1", "customer.test", key_pair[1])
        assert (result.status, result.code) == ("pending", "dns_timeout")


class TestSigning:
    def test_signed_mail_verifies_after_smtp(
        self, knot, resolver, domain, key_pair, other_key_pair, smtp_sink
    ):
        private_pem, public_b64 = key_pair
        _publish(knot, "odoo202611", domain, public_b64)
        raw = _message(domain)
        signed = sign_message(raw, "odoo202611", domain, private_pem)
        assert signed.startswith(b"DKIM-Signature: ") and signed.endswith(raw)
        assert b"c=relaxed/relaxed" in signed and b"a=rsa-sha256" in signed

        received = _send(smtp_sink, signed)
        assert verify_message(received, resolver) is True
        assert dkim.verify(received, dnsfunc=lambda *_a, **_k: None) is False  # needs the DNS

        # The key in DNS changes: the same bytes no longer verify.
        _publish(knot, "odoo202611", domain, other_key_pair[1])
        assert verify_message(received, resolver) is False
        # The key disappears.
        knot.delete(dkim_record_name("odoo202611", domain))
        assert verify_message(received, resolver) is False

    def test_altered_body_or_header_fails(self, knot, resolver, domain, key_pair, smtp_sink):
        private_pem, public_b64 = key_pair
        _publish(knot, "s1", domain, public_b64)
        received = _send(smtp_sink, sign_message(_message(domain), "s1", domain, private_pem))
        assert verify_message(received, resolver) is True
        assert verify_message(received.replace(b"the quote", b"the QUOTE"), resolver) is False
        assert verify_message(received.replace(b"12 chairs", b"99 chairs"), resolver) is False

    def test_relaxed_canonicalisation_survives_refolding(self, knot, resolver, domain, key_pair):
        private_pem, public_b64 = key_pair
        _publish(knot, "s1", domain, public_b64)
        signed = sign_message(_message(domain), "s1", domain, private_pem)
        refolded = signed.replace(
            b"Subject: Quote for 12 chairs", b"Subject:  Quote for\r\n 12 chairs"
        )
        assert verify_message(refolded, resolver) is True

    def test_rotation_keeps_old_selector_valid(
        self, knot, resolver, domain, key_pair, other_key_pair, smtp_sink
    ):
        old_selector = new_selector(when=date(2026, 10, 1))
        new = new_selector(when=date(2026, 11, 1), existing=[old_selector])
        _publish(knot, old_selector, domain, key_pair[1])
        old_mail = _send(
            smtp_sink, sign_message(_message(domain), old_selector, domain, key_pair[0])
        )
        # Rotate: publish the new key under a new selector, keep the old one published.
        _publish(knot, new, domain, other_key_pair[1])
        new_mail = _send(smtp_sink, sign_message(_message(domain), new, domain, other_key_pair[0]))
        assert check_dkim(resolver, new, domain, other_key_pair[1]).passed
        assert check_dkim(resolver, old_selector, domain, key_pair[1]).passed
        assert verify_message(old_mail, resolver) is True
        assert verify_message(new_mail, resolver) is True
        assert b"s=" + new.encode() in new_mail

    def test_pkcs8_key_is_accepted(self, knot, resolver, domain, key_pair):
        key = serialization.load_pem_private_key(key_pair[0], password=None)
        pkcs8 = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _publish(knot, "s1", domain, key_pair[1])
        signed = sign_message(_message(domain), "s1", domain, pkcs8)
        assert verify_message(signed, resolver) is True

    def test_unusable_key_raises_plain_error(self, domain):
        with pytest.raises(DkimKeyError) as info:
            sign_message(_message(domain), "s1", domain, b"not a key")
        assert "PEM" in info.value.user_message

    def test_verifying_while_dns_is_silent_raises_timeout(self, slow_resolver, key_pair):
        signed = sign_message(_message("customer.test"), "s1", "customer.test", key_pair[0])
        with pytest.raises(DnsTimeout):
            verify_message(signed, slow_resolver)


class TestWhoMayBeSignedFor:
    """Mail is signed only from the sender's own address or a system address of the company."""

    CEO, SAM, ANN = 1, 2, 3
    SYSTEM = ("notifications@example.test", "bounce@example.test")

    def test_own_address_by_any_single_claim(self):
        for kind in (CLAIM_VERIFIED, CLAIM_LOGIN, CLAIM_EMAIL, CLAIM_MAILBOX):
            assert sender_refusal("sam@example.test", self.SAM, [(self.SAM, kind)]) is None
        assert sender_refusal("sam@example.test", self.SAM, [(self.SAM, CLAIM_EMAIL)] * 2) is None

    def test_someone_elses_address_is_refused(self):
        claims = [(self.CEO, CLAIM_LOGIN), (self.CEO, CLAIM_EMAIL)]
        assert sender_refusal("ceo@example.test", self.SAM, claims) == REFUSED_OTHER_OWNER
        assert sender_refusal("ceo@example.test", self.CEO, claims) is None

    def test_self_declared_claims_never_beat_an_administered_one(self):
        # Sam set his own email and a mailbox login to the CEO's address
        claims = [(self.CEO, CLAIM_LOGIN), (self.SAM, CLAIM_EMAIL), (self.SAM, CLAIM_MAILBOX)]
        assert address_owners(claims) == {self.CEO}
        assert sender_refusal("ceo@example.test", self.SAM, claims) == REFUSED_OTHER_OWNER
        assert sender_refusal("ceo@example.test", self.CEO, claims) is None
        # a verified address belongs to whoever proved it, whatever the logins say
        claims.append((self.ANN, CLAIM_VERIFIED))
        assert address_owners(claims) == {self.ANN}
        assert sender_refusal("ceo@example.test", self.CEO, claims) == REFUSED_OTHER_OWNER

    def test_two_self_declared_claims_make_it_nobodys(self):
        claims = [(self.SAM, CLAIM_EMAIL), (self.ANN, CLAIM_MAILBOX)]
        assert address_owners(claims) == set()
        assert sender_refusal("sales@example.test", self.SAM, claims) == REFUSED_SHARED
        assert sender_refusal("sales@example.test", self.CEO, claims) == REFUSED_SHARED

    def test_unclaimed_address_and_no_sender(self):
        assert sender_refusal("x@example.test", self.SAM, []) == REFUSED_NOT_OWNED
        claims = [(self.CEO, CLAIM_LOGIN)]
        assert sender_refusal("ceo@example.test", None, claims) == REFUSED_NO_SENDER

    def test_system_addresses_are_signed_for_everyone(self):
        for sender in (self.SAM, self.CEO, None):
            assert sender_refusal(self.SYSTEM[0], sender, [], self.SYSTEM) is None
        # even one a user claims as theirs: it is the company's
        claims = [(self.SAM, CLAIM_EMAIL)]
        assert sender_refusal(self.SYSTEM[1], self.CEO, claims, self.SYSTEM) is None
