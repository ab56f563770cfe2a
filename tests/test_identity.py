"""Email identity: when two copies are the same email (content fingerprint).

The real-server tests take a message as its sender's mail client stores it in Sent, deliver it
through a real SMTP server (the aiosmtpd sink), let the transit change it the way delivery
does (a Received header, a DKIM signature, 8-bit text re-encoded as quoted-printable), store
both in real Dovecot mailboxes, read them back over IMAP and compare.
"""

from __future__ import annotations

import smtplib

import pytest

from crm_mail_channel_core import identity
from crm_mail_channel_core.mime import parse_message
from crm_mail_channel_testing.delivery import OFFER_BODY, sender_copy, transit
from tests.dns_fixtures import smtp_sink_fixture  # noqa: F401  (pytest fixture)

BODY = OFFER_BODY


def fingerprint_of(raw: bytes) -> str:
    return identity.content_fingerprint(parse_message(raw))


def read_back(dovecot, login, password, folder="INBOX"):
    client = dovecot.imap_client(login, password)
    try:
        client.select_folder(folder, readonly=True)
        uids = client.search(["ALL"])
        fetched = client.fetch(uids, [b"BODY.PEEK[]"])
        return [fetched[uid][b"BODY[]"] for uid in uids]
    finally:
        client.logout()


# ---- pure -----------------------------------------------------------------------------------
def test_transit_keeps_the_fingerprint():
    raw = sender_copy()
    delivered = transit(raw)
    assert delivered != raw
    assert b"quoted-printable" in delivered
    assert fingerprint_of(delivered) == fingerprint_of(raw)


@pytest.mark.parametrize(
    "changed",
    [
        {"body": BODY.replace("12 machines", "13 machines")},
        {"attachment": b"%PDF-1.4 offeR"},
    ],
)
def test_one_changed_byte_changes_the_fingerprint(changed):
    assert fingerprint_of(sender_copy(**changed)) != fingerprint_of(sender_copy())


def test_message_id_is_not_part_of_the_fingerprint():
    other = sender_copy(message_id="<someone-else@attacker.example>")
    assert fingerprint_of(other) == fingerprint_of(sender_copy())


def test_long_message_id_is_shortened_and_stable():
    long_id = "<" + "x" * 3000 + "@attacker.example>"
    parsed = parse_message(sender_copy(message_id=long_id))
    assert len(parsed.message_id) <= identity.MAX_MESSAGE_ID_LENGTH
    assert parsed.message_id == parse_message(sender_copy(message_id=long_id)).message_id
    references = parse_message(
        b"From: a@b.example\r\nReferences: " + long_id.encode() + b"\r\n\r\nx"
    ).references
    assert references == [parsed.message_id]


def test_nul_bytes_are_cleaned():
    raw = b"From: a@b.example\r\nSubject: a\x00b\r\nMessage-ID: <n\x00ul@b.example>\r\n\r\nbo\x00dy"
    parsed = parse_message(raw)
    assert "\x00" not in parsed.message_id
    assert identity.clean_text(parsed.subject) == "ab"
    assert identity.clean_text("x\x00y\x07z\n") == "xyz\n"


def test_posted_placeholder_is_unique_per_post():
    first = identity.posted_fingerprint("<a@b>", 1)
    assert first.startswith(identity.POSTED_PREFIX)
    assert first != identity.posted_fingerprint("<a@b>", 2)


# ---- against the real servers -----------------------------------------------------------
def test_sent_copy_and_delivered_copy_are_one_email(dovecot, smtp_sink):
    raw = sender_copy(message_id="<offer-real@acme.example>")
    sender, receiver = dovecot.new_user("idsend"), dovecot.new_user("idrecv")
    dovecot.append_messages(*sender, "Sent", [raw], flags=["\\Seen"])
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10) as smtp:
        smtp.sendmail("joe@acme.example", ["alice@ourco.example"], raw)
    smtp_sink.wait_for(1)
    [received] = [m for m in smtp_sink.messages if b"offer-real@acme.example" in m["raw"]][-1:]
    dovecot.append_messages(*receiver, "INBOX", [transit(received["raw"])])
    changed = sender_copy(
        body=BODY.replace("12 machines", "13 machines"), message_id="<offer-real@acme.example>"
    )
    dovecot.append_messages(*receiver, "INBOX", [changed])

    [sent_back] = read_back(dovecot, *sender, folder="Sent")
    delivered_back, changed_back = read_back(dovecot, *receiver)
    assert b"quoted-printable" in delivered_back
    assert fingerprint_of(sent_back) == fingerprint_of(delivered_back)
    assert fingerprint_of(changed_back) != fingerprint_of(sent_back)
    assert parse_message(changed_back).message_id == parse_message(sent_back).message_id
