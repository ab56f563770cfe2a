from datetime import datetime

import pytest

from crm_mail_channel_core.errors import MessageParseError
from crm_mail_channel_core.mime import parse_message
from crm_mail_channel_testing.samples import make_message, sample_corpus

BASIC = make_message(
    "Jörg Müller <Joerg@Example.com>",
    ["Ann <ann@client.org>"],
    "Grüße zum Angebot",
    "Hello Ann,\n\nsee the offer.\nBest",
    datetime(2024, 3, 1, 12, 0),
    message_id="<abc@x>",
    cc=["cc@client.org"],
    in_reply_to="<prev@x>",
    references=["<root@x>", "<prev@x>"],
)


def test_basic_fields():
    p = parse_message(BASIC)
    assert p.message_id == "<abc@x>"
    assert p.subject == "Grüße zum Angebot"
    assert p.date == datetime(2024, 3, 1, 12, 0)
    assert p.email_from == ("Jörg Müller", "joerg@example.com")
    assert p.to == [("Ann", "ann@client.org")]
    assert p.cc == [("", "cc@client.org")]
    assert p.in_reply_to == "<prev@x>"
    assert p.references == ["<root@x>", "<prev@x>"]
    assert "see the offer" in p.body_text and "<p>" in p.body_html
    assert p.preview.startswith("Hello Ann,")
    assert p.participants() == {"joerg@example.com", "ann@client.org", "cc@client.org"}


def test_date_converted_to_naive_utc():
    raw = b"From: a@b.com\r\nDate: Tue, 1 Oct 2024 10:00:00 +0200\r\nSubject: x\r\n\r\nhi\r\n"
    assert parse_message(raw).date == datetime(2024, 10, 1, 8, 0)
    raw = b"From: a@b.com\r\nDate: yesterday-ish\r\n\r\nhi\r\n"
    assert parse_message(raw).date is None


def test_unknown_and_broken_charsets_do_not_raise():
    raw = (
        b"From: a@b.com\r\nSubject: =?x-bogus?q?Gr=FC=DFe?= \xff\xfe\r\n"
        b"Content-Type: text/plain; charset=x-nonsense\r\n\r\nHallo \xe4\xf6\xfc \xff\r\n"
    )
    p = parse_message(raw)
    assert "Hallo" in p.body_text and "Gr" in p.subject
    raw = b"From: a@b.com\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbad \xc3\x28 utf8\r\n"
    assert "bad" in parse_message(raw).body_text


def test_latin1_declared_and_rfc2047_subject():
    raw = (
        b"From: =?iso-8859-1?q?Ren=E9?= <r@x.fr>\r\nSubject: =?iso-8859-1?q?caf=E9?=\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\ncaf\xe9\r\n"
    )
    p = parse_message(raw)
    assert p.subject == "café" and p.body_text.strip() == "café"
    assert p.email_from == ("René", "r@x.fr")


def test_text_only_becomes_escaped_html():
    raw = b"From: a@b.com\r\nSubject: s\r\n\r\n1 < 2 & 3\r\nline\r\n\r\npara\r\n"
    p = parse_message(raw)
    assert p.body_html == "<p>1 &lt; 2 &amp; 3<br>\nline</p>\n<p>para</p>\n"


def test_html_only_gives_text_and_preview():
    raw = (
        b"From: a@b.com\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><style>p{}</style><p>Hello <b>there</b></p><p>" + b"x" * 500 + b"</p></html>"
    )
    p = parse_message(raw)
    assert p.body_text.startswith("Hello there")
    assert len(p.preview) <= 201 and p.preview.startswith("Hello there")


def test_missing_message_id_gets_stable_synthetic_key():
    raw = make_message("a@b.com", "c@d.com", "s", "body", datetime(2024, 1, 1), message_id="")
    one, two = parse_message(raw), parse_message(raw)
    assert one.message_id == two.message_id
    assert one.message_id.endswith("@synthetic.crm-mail-channel>")
    other = make_message("a@b.com", "c@d.com", "s", "body 2", datetime(2024, 1, 1), message_id="")
    assert parse_message(other).message_id != one.message_id


def test_message_id_normalised():
    raw = b"From: a@b.com\r\nMessage-ID:   <Abc@X.example>  (comment)\r\n\r\nx\r\n"
    assert parse_message(raw).message_id == "<Abc@X.example>"
    raw = b"From: a@b.com\r\nMessage-ID: bare@id\r\n\r\nx\r\n"
    assert parse_message(raw).message_id == "<bare@id>"


def test_attachments_and_oversize_attachment_skipped():
    raw = make_message(
        "a@b.com",
        "c@d.com",
        "files",
        "see attached",
        html=True,
        attachments=[
            ("réport.pdf", "application/pdf", b"%PDF" * 10),
            ("big.bin", "application/octet-stream", b"0" * 5000),
        ],
    )
    p = parse_message(raw)
    assert [(a.filename, a.content_type) for a in p.attachments] == [
        ("réport.pdf", "application/pdf"),
        ("big.bin", "application/octet-stream"),
    ]
    assert p.attachments[0].data == b"%PDF" * 10
    small = parse_message(raw, max_attachment_size=1000)
    assert [a.filename for a in small.attachments] == ["réport.pdf"]
    assert small.skipped_attachments == [("big.bin", 5000)]
    assert "see attached" in small.body_text


def test_inline_image_with_content_id():
    raw = (
        b'From: a@b.com\r\nContent-Type: multipart/related; boundary="b"\r\n\r\n'
        b'--b\r\nContent-Type: text/html\r\n\r\n<img src="cid:img1@x">\r\n'
        b"--b\r\nContent-Type: image/png\r\nContent-ID: <img1@x>\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b--\r\n"
    )
    p = parse_message(raw)
    assert len(p.attachments) == 1
    att = p.attachments[0]
    assert att.inline and att.content_id == "img1@x" and att.data.startswith(b"\x89PNG")


@pytest.mark.parametrize("raw", [b"", b"   \r\n", b"no headers at all, just text\r\n"])
def test_unparseable_raises(raw):
    with pytest.raises(MessageParseError) as info:
        parse_message(raw)
    assert info.value.user_message


def test_corpus_parses():
    corpus = sample_corpus(60, ["a@x.com"], ["z@q.org"], seed=3)
    parsed = [parse_message(r) for r in corpus]
    assert len({p.message_id for p in parsed}) == 60
    assert all(p.email_from for p in parsed)
