"""Live inbox previews (SalesInbox "Not in CRM"): parsing; the real Dovecot never sets \\Seen."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage

from crm_mail_channel_core import inbox_preview
from crm_mail_channel_core.inbox_preview import (
    PreviewCache,
    decode_partial,
    fetch_inbox_previews,
    make_preview,
    parse_preview_headers,
    pick_text_part,
)
from crm_mail_channel_core.mailbox_client import open_session
from crm_mail_channel_testing.samples import make_message
from tests.conftest import imap_settings

START = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)


def _qp_html_message(sender, subject, html, date):
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "me@crm.example"
    msg["Subject"] = subject
    msg["Date"] = date.strftime("%a, %d %b %Y %H:%M:%S +0000")
    msg["Message-ID"] = "<qp-html@t>"
    msg.set_content(html, subtype="html", cte="quoted-printable")
    return msg.as_bytes()


# ---- plain functions -------------------------------------------------------------------------
def test_pick_text_part_prefers_plain_and_skips_attachments():
    plain = (b"text", b"plain", (b"charset", b"utf-8"), None, None, b"base64", 10, 1)
    html = (b"text", b"html", (b"charset", b"iso-8859-1"), None, None, b"quoted-printable", 9, 1)
    attached_text = (
        b"text",
        b"plain",
        None,
        None,
        None,
        b"7bit",
        3,
        1,
        None,
        (b"attachment", (b"filename", b"a.txt")),
    )
    pdf = (b"application", b"pdf", None, None, None, b"base64", 100)
    alternative = ([plain, html], b"alternative")
    assert pick_text_part(plain) == ("1", "plain", "base64", "utf-8")
    assert pick_text_part(([attached_text, alternative, pdf], b"mixed")) == (
        "2.1",
        "plain",
        "base64",
        "utf-8",
    )
    assert pick_text_part(([pdf, html], b"mixed")) == (
        "2",
        "html",
        "quoted-printable",
        "iso-8859-1",
    )
    assert pick_text_part(([attached_text, pdf], b"mixed")) is None
    assert pick_text_part(None) is None


def test_decode_partial_cut_anywhere():
    text = "Grüße aus München, " * 40
    encoded = base64.encodebytes(text.encode()).replace(b"\n", b"\r\n")
    for cut in (5, 77, 203, 511):
        decoded = decode_partial(encoded[:cut], "base64", "utf-8", "plain")
        assert text.startswith(decoded)
        assert "\ufffd" not in decoded
    assert decode_partial(b"Caf=C3=A9 cr=", "quoted-printable", "utf-8", "plain") == "Café cr"
    assert decode_partial(b"Caf=C3=A9 cr=C", "quoted-printable", "utf-8", "plain") == "Café cr"
    html = b"<html><head><style>p { color: red } body { x"
    assert decode_partial(html, "7bit", None, "html") == ""
    html = b"<html><body><p>Hello <b>there</b></p><p>second par<a hr"
    assert decode_partial(html, "7bit", None, "html") == "Hello there\nsecond par"


def test_make_preview_and_headers():
    assert make_preview("Hi Ann,\n\n> quoted line\nSee   you") == "Hi Ann, See you"
    long = make_preview("word " * 100, length=30)
    assert long.endswith("…") and len(long) <= 31
    headers = parse_preview_headers(
        b"From: =?utf-8?q?J=C3=BCrgen?= <Juergen@Example.ORG>\r\n"
        b"To: me@crm.example, other@crm.example\r\n"
        b"Subject: =?utf-8?q?Angebot_f=C3=BCr_Sie?=\r\n"
        b"Date: Tue, 03 Mar 2026 10:00:00 +0100\r\n"
        b"Message-ID: <abc@example.org>\r\n\r\n"
    )
    assert headers["sender_name"] == "Jürgen"
    assert headers["sender_email"] == "juergen@example.org"
    assert headers["subject"] == "Angebot für Sie"
    assert headers["to"] == ("me@crm.example", "other@crm.example")
    assert headers["date"] == datetime(2026, 3, 3, 9, 0)
    assert headers["message_id"] == "<abc@example.org>"
    assert parse_preview_headers(b"")["sender_email"] is None


def test_cache_expires_and_is_per_key():
    now = [0.0]
    cache = PreviewCache(ttl=120, clock=lambda: now[0])
    cache.put(("db", 1), ["alice"])
    cache.put(("db", 2), ["bob"])
    assert cache.get(("db", 1)) == ["alice"]
    assert cache.get(("db", 3)) is None
    now[0] = 119
    assert cache.get(("db", 2)) == ["bob"]
    now[0] = 121
    assert cache.get(("db", 1)) is None
    cache.put(("db", 1), ["again"])
    cache.drop(lambda key: key[1] == 1)
    assert cache.get(("db", 1)) is None


def test_cache_bounded():
    cache = PreviewCache(ttl=120, max_entries=3)
    for i in range(10):
        cache.put(i, i)
    assert len(cache._entries) <= 3
    assert cache.get(9) == 9


# ---- the real server -------------------------------------------------------------------------
def _server_flags(dovecot, login, password):
    client = dovecot.imap_client(login, password)
    try:
        client.select_folder("INBOX", readonly=True)
        data = client.fetch(client.search(["ALL"]), ["FLAGS"])
        return {int(uid): tuple(item[b"FLAGS"]) for uid, item in data.items()}
    finally:
        client.logout()


def test_fetch_previews_newest_first_never_seen(dovecot, mail_user):
    login, password = mail_user
    raws = [
        make_message(
            f"Sender {i} <s{i}@client.org>",
            "me@crm.example",
            f"Question {i}",
            f"Body number {i}\n\nmore text",
            date=START + timedelta(hours=i),
            message_id=f"<q{i}@client.org>",
            html=bool(i % 2),
            attachments=[("a.pdf", "application/pdf", b"%PDF" * 500)] if i == 3 else (),
        )
        for i in range(6)
    ]
    raws.append(
        _qp_html_message(
            "Html Only <html@client.org>",
            "Html only",
            "<html><head><style>p{color:red}</style></head><body><p>Caf\u00e9 ouvert</p>"
            + "<p>x</p>" * 50
            + "</body></html>",
            START + timedelta(hours=10),
        )
    )
    dovecot.append_messages(login, password, "INBOX", raws[:-2])
    dovecot.append_messages(login, password, "INBOX", raws[-2:-1], flags=[b"\\Seen"])
    dovecot.append_messages(login, password, "INBOX", raws[-1:])
    before = _server_flags(dovecot, login, password)
    settings = imap_settings(dovecot, login, password)
    with open_session(settings) as session:
        previews = fetch_inbox_previews(session, count=5)
    assert _server_flags(dovecot, login, password) == before
    assert [p.subject for p in previews] == [
        "Html only",
        "Question 5",
        "Question 4",
        "Question 3",
        "Question 2",
    ]
    html_only, q5, _q4, q3, _q2 = previews
    assert html_only.preview.startswith("Café ouvert")
    assert "color" not in html_only.preview
    assert q5.seen and not html_only.seen and not q3.seen
    assert q3.preview == "Body number 3 more text"
    assert q5.sender_email == "s5@client.org" and q5.sender_name == "Sender 5"
    assert q5.message_id == "<q5@client.org>"
    assert q5.date == datetime(2026, 3, 1, 14, 0)
    assert q5.to == ("me@crm.example",)


def test_fetch_previews_empty_inbox(dovecot, mail_user):
    with open_session(imap_settings(dovecot, *mail_user)) as session:
        assert fetch_inbox_previews(session) == []


def test_unknown_senders():
    def preview(addr):
        return inbox_preview.InboxPreview(1, None, "s", "", addr, (), (), None, False, "")

    found = inbox_preview.unknown_senders(
        [preview("a@x.org"), preview(None), preview("b@x.org")], {"a@x.org"}.__contains__
    )
    assert [p.sender_email for p in found] == ["b@x.org"]
