"""The fast MIME path of parse_message must give exactly what the stdlib parser gives.

The reference is ``parse_message`` with ``mime.FAST_PATH`` off (the feedparser with compat32,
then policy.default); with it on (the default), ``parse_message`` tries
``mime_fastpath.message_tree`` first and falls back to the reference for input the fast path
does not handle.
"""

from __future__ import annotations

import base64
import quopri
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm_mail_channel_core import mime, mime_fastpath
from crm_mail_channel_core.errors import MessageParseError
from crm_mail_channel_core.mime import parse_message
from crm_mail_channel_testing.samples import make_message, sample_corpus


def _outcome(func, raw, limit=None):
    try:
        return func(raw, limit)
    except MessageParseError as exc:
        return ("error", exc.detail)


def _reference(raw: bytes, limit: int | None) -> mime.ParsedMessage:
    mime.FAST_PATH = False
    try:
        return parse_message(raw, limit)
    finally:
        mime.FAST_PATH = True


def assert_same(raw: bytes, limit: int | None = None) -> None:
    assert mime.FAST_PATH  # the product default, what ``parse_message`` runs below
    fast = _outcome(parse_message, raw, limit)
    reference = _outcome(_reference, raw, limit)
    assert fast == reference


# ---- the sample corpus -----------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 42])
def test_sample_corpus_fast_path_matches_stdlib(seed):
    corpus = sample_corpus(150, ["ann@client.org", "bob@client.org"], ["x@other.net"], seed=seed)
    for raw in corpus:
        assert mime_fastpath.message_tree(raw) is not None  # the fast path really handles these
        assert_same(raw)
        assert_same(raw, limit=5_000)


def test_oversize_attachment_reported_with_decoded_size():
    raw = make_message(
        "a@b.com",
        "c@d.com",
        "s",
        "body",
        attachments=[("big.bin", "application/octet-stream", b"\x01" * 9000)],
    )
    parsed = parse_message(raw, max_attachment_size=1000)
    assert parsed.skipped_attachments == [("big.bin", 9000)] and not parsed.attachments
    assert_same(raw, limit=1000)


# ---- hand-written edge cases -----------------------------------------------------------------
B64_PNG = base64.encodebytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256))).replace(b"\n", b"\r\n")

NESTED = (
    b"From: a@b.com\r\nTo: c@d.com\r\nSubject: nested\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n'
    b"This is the preamble.\r\n"
    b"--outer\r\n"
    b'Content-Type: multipart/alternative; boundary="alt"\r\n\r\n'
    b"--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain \xc3\xa9\r\n"
    b"--alt\r\n"
    b'Content-Type: multipart/related; boundary="rel"\r\n\r\n'
    b'--rel\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>html <img src="cid:i@x"></p>\r\n'
    b"--rel\r\nContent-Type: image/png\r\nContent-ID: <i@x>\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n" + B64_PNG + b"--rel--\r\n"
    b"--alt--\r\nalt epilogue\r\n"
    b"--outer\r\n"
    b"Content-Type: application/pdf; name*=utf-8''r%C3%A9sum%C3%A9.pdf\r\n"
    b"Content-Disposition: attachment;\r\n filename*0*=utf-8''r%C3%A9su;\r\n"
    b" filename*1*=m%C3%A9.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"JVBERi0xLjQK\r\n"
    b"--outer--  \r\nepilogue\r\n"
)

QP = (
    b"From: =?iso-8859-1?q?Ren=E9?= <r@x.fr>\r\nSubject: =?utf-8?b?R3LDvMOfZQ==?=\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    b"caf=E9 au lait, a very long line that was soft=\r\n-broken =3D fine\r\n"
)

EIGHT_BIT_HEADERS = (
    'From: Jörg Müller <j@x.de>\r\nTo: Zoë <z@x.de>, "Ölaf, M." <o@x.de>\r\n'
    "Subject: Grüße aus Köln\r\nMessage-ID: <8bit@x>\r\n"
    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    "Hallo Zoë\r\n"
).encode() + b"Subject-Latin1: caf\xe9\r\n"

LATIN1_HEADERS = (
    b"From: Ren\xe9 <r@x.fr>\r\nSubject: caf\xe9 cr\xe8me\r\n"
    b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\ncaf\xe9\r\n"
)

FAST_CASES = {
    "nested": NESTED,
    "quoted_printable": QP,
    "8bit_headers": EIGHT_BIT_HEADERS,
    "latin1_headers": LATIN1_HEADERS,
    "lf_only": NESTED.replace(b"\r\n", b"\n"),
    "folded_headers": b"From: a@b.com\r\nSubject: one\r\n two\r\n\tthree\r\nTo: x@y.z,\r\n"
    b"  w@y.z\r\n\r\nbody\r\n",
    "empty_header_value_then_fold": b"From: a@b.com\r\nSubject: \r\n folded\r\n\r\nx\r\n",
    "part_without_headers": b"From: a@b.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
    b"--b\r\n\r\nno headers here\r\n--b--\r\n",
    "empty_part_body": b"From: a@b.com\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
    b"--b\r\nContent-Type: text/plain\r\n\r\n\r\n--b--\r\n",
    "boundary_lookalikes": b'From: a@b.com\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain\r\n\r\n--bb not a boundary\r\n"
    b"---b nor this\r\n--b\t\r\n\r\nsecond\r\n--b--\r\n",
    "inline_image": b'From: a@b.com\r\nContent-Type: multipart/related; boundary="b"\r\n\r\n'
    b'--b\r\nContent-Type: text/html\r\n\r\n<img src="cid:img1@x">\r\n'
    b"--b\r\nContent-Type: image/png\r\nContent-ID: <img1@x>\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b--\r\n",
    "bad_base64": b'From: a@b.com\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: application/pdf; name=x.pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nJVB!!ERi0x\r\nLjQ\r\n--b--\r\n",
    "unknown_charset": b"From: a@b.com\r\nSubject: =?x-bogus?q?Gr=FC=DFe?= \xff\xfe\r\n"
    b"Content-Type: text/plain; charset=x-nonsense\r\n\r\nHallo \xe4\xff\r\n",
    "uuencode": b"From: a@b.com\r\nContent-Type: application/octet-stream; name=a.bin\r\n"
    b"Content-Transfer-Encoding: x-uuencode\r\n\r\n"
    b"begin 644 a.bin\r\n#86)C\r\n`\r\nend\r\n",
    "no_message_id": make_message(
        "a@b.com", "c@d.com", "s", "body", datetime(2024, 1, 1), message_id=""
    ),
}

FALLBACK_CASES = {
    "missing_close_boundary": NESTED[: NESTED.index(b"--outer--")],
    "truncated_mid_attachment": NESTED[: NESTED.index(b"JVBERi0x") + 4],
    "no_boundary_param": b"From: a@b.com\r\nContent-Type: multipart/mixed\r\n\r\n--b\r\n\r\nx\r\n",
    "start_boundary_missing": b'From: a@b.com\r\nContent-Type: multipart/mixed; boundary="zz"\r\n'
    b"\r\n--b\r\n\r\nx\r\n--b--\r\n",
    "close_before_parts": b'From: a@b.com\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b--\r\n--b\r\n\r\nx\r\n--b--\r\n",
    "consecutive_boundaries": b'From: a@b.com\r\nContent-Type: multipart/mixed; boundary="b"\r\n'
    b"\r\n--b\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n",
    "close_lookalike": b'From: a@b.com\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\n\r\nx\r\n--b--x\r\ny\r\n--b--\r\n",
    "bare_cr": b"From: a@b.com\r\nSubject: s\rX-Other: 1\r\n\r\nbody\r\n",
    "unix_from": b"From someone Tue Oct  1 10:00:00 2024\r\nFrom: a@b.com\r\n\r\nx\r\n",
    "first_line_continuation": b"  odd\r\nFrom: a@b.com\r\n\r\nx\r\n",
    "missing_separator": b"From: a@b.com\r\nthis is body text\r\n",
    "header_space_before_colon": b"From: a@b.com\r\nSubject : s\r\n\r\nx\r\n",
    "forwarded_message": b'From: a@b.com\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain\r\n\r\nsee below\r\n"
    b"--b\r\nContent-Type: message/rfc822\r\n\r\n"
    b"From: c@d.com\r\nSubject: inner\r\n\r\ninner body\r\n--b--\r\n",
    "digest": b'From: a@b.com\r\nContent-Type: multipart/digest; boundary="b"\r\n\r\n'
    b"--b\r\n\r\nFrom: c@d.com\r\n\r\ninner\r\n--b--\r\n",
    "deep_nesting": b"From: a@b.com\r\n"
    + b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(45)
    )
    + b"Content-Type: text/plain\r\n\r\ndeep\r\n"
    + b"".join(b"--b%d--\r\n" % i for i in reversed(range(45))),
    "no_headers": b"\r\njust a body\r\n",
    "not_an_email": b"no headers at all, just text\r\n",
}


@pytest.mark.parametrize("name", sorted(FAST_CASES))
def test_edge_cases_on_fast_path(name):
    raw = FAST_CASES[name]
    assert mime_fastpath.message_tree(raw) is not None
    assert_same(raw)
    assert_same(raw, limit=10)


@pytest.mark.parametrize("name", sorted(FALLBACK_CASES))
def test_edge_cases_fall_back_to_stdlib(name):
    raw = FALLBACK_CASES[name]
    assert mime_fastpath.message_tree(raw) is None
    assert_same(raw)


def test_nested_structure_content():
    parsed = parse_message(NESTED)
    assert parsed.body_text == "plain é"
    assert '<img src="cid:i@x">' in parsed.body_html
    png, pdf = parsed.attachments
    assert png.inline and png.content_id == "i@x" and png.data.startswith(b"\x89PNG")
    assert pdf.filename == "résumé.pdf" and pdf.data == b"%PDF-1.4\n"


def test_quoted_printable_and_8bit_headers():
    parsed = parse_message(QP)
    assert parsed.subject == "Grüße" and parsed.email_from == ("René", "r@x.fr")
    assert parsed.body_text.startswith("café au lait") and "soft-broken = fine" in parsed.body_text
    parsed = parse_message(EIGHT_BIT_HEADERS)
    assert parsed.subject == "Grüße aus Köln"
    assert parsed.email_from == ("Jörg Müller", "j@x.de")
    assert parsed.to == [("Zoë", "z@x.de"), ("Ölaf, M.", "o@x.de")]
    assert parse_message(LATIN1_HEADERS).subject == "café crème"


# ---- generated messages ----------------------------------------------------------------------
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)
_FILENAMES = st.sampled_from(
    [
        None,
        "report.pdf",
        "two words.pdf",
        "=?utf-8?q?r=C3=A9sum=C3=A9?=.pdf",
        "utf-8''r%C3%A9sum%C3%A9.pdf*",
        "iso-8859-1''caf%E9.txt*",
        "x-bogus''%FF.bin*",
    ]
)


def _param(name: str, value: str) -> str:
    if value.endswith("*"):  # RFC 2231 extended value
        return f"; {name}*={value[:-1]}"
    return f'; {name}="{value}"'


@st.composite
def _leaf(draw) -> bytes:
    ctype = draw(st.sampled_from(["text/plain", "text/html", "application/pdf", "image/png"]))
    charset = draw(st.sampled_from([None, "utf-8", "iso-8859-1", "x-bogus", '"UTF-8"']))
    cte = draw(st.sampled_from([None, "base64", "quoted-printable", "7bit", "8bit", "BASE64"]))
    text = draw(_TEXT)
    data = text.encode("utf-8") if draw(st.booleans()) else text.encode("latin-1", "replace")
    if cte and cte.lower() == "base64":
        body = base64.encodebytes(data)
        if draw(st.integers(0, 9)) == 0:
            body = body[:-3]  # broken padding
    elif cte == "quoted-printable":
        body = quopri.encodestring(data)
    else:
        body = data
    head = f"Content-Type: {ctype}" + (f"; charset={charset}" if charset else "")
    filename = draw(_FILENAMES)
    if filename and draw(st.booleans()):
        head += _param("name", filename)
    disposition = draw(st.sampled_from([None, "inline", "attachment", "ATTACHMENT"]))
    lines = [head]
    if disposition or (filename and draw(st.booleans())):
        lines.append(
            (disposition or "attachment") + (_param("filename", filename) if filename else "")
        )
        lines[-1] = "Content-Disposition: " + lines[-1]
    if cte:
        lines.append(f"Content-Transfer-Encoding: {cte}")
    if draw(st.booleans()):
        lines.append("Content-ID: <cid%d@x>" % draw(st.integers(0, 3)))
    if draw(st.integers(0, 5)) == 0:
        return b"\n" + body  # part without any header
    return "\n".join(lines).encode() + b"\n\n" + body


@st.composite
def _multipart(draw, children) -> bytes:
    subtype = draw(st.sampled_from(["mixed", "alternative", "related"]))
    boundary = draw(st.sampled_from(["b", "==_x_==", "b1", "a b", "0123-xyz"]))
    boundary += str(draw(st.integers(0, 99)))
    parts = draw(st.lists(children, min_size=0, max_size=3))
    quoted = draw(st.booleans())
    head = f"Content-Type: multipart/{subtype}; boundary=" + (
        f'"{boundary}"' if quoted or " " in boundary else boundary
    )
    delim = b"--" + boundary.encode()
    body = draw(st.sampled_from([b"", b"preamble\n", b"--not-it\n"]))
    for part in parts:
        body += delim + draw(st.sampled_from([b"", b" ", b"\t "])) + b"\n" + part + b"\n"
    if draw(st.integers(0, 9)):
        body += delim + b"--" + draw(st.sampled_from([b"", b"  "])) + b"\n"
    body += draw(st.sampled_from([b"", b"epilogue\n", delim + b"\n"]))
    return head.encode() + b"\n\n" + body


_ENTITY = st.recursive(_leaf(), lambda children: _multipart(children), max_leaves=6)
_HEADER_VALUES = st.sampled_from(
    [
        "Ann <ann@client.org>",
        "=?utf-8?q?J=C3=B6rg?= <j@x.de>",
        "Jörg Müller <j@x.de>",
        '"Doe, J" <jd@x.org>, bob@y.com',
        "undisclosed-recipients:;",
        "broken <@>",
    ]
)


@st.composite
def _message(draw) -> bytes:
    headers = [f"From: {draw(_HEADER_VALUES)}"]
    if draw(st.booleans()):
        headers.append(f"To: {draw(_HEADER_VALUES)}")
    if draw(st.booleans()):
        headers.append(f"Cc: {draw(_HEADER_VALUES)},\n {draw(_HEADER_VALUES)}")
    subject = draw(st.sampled_from(["Hello", "Grüße", "=?utf-8?b?R3LDvMOfZQ==?=", "a\n b", ""]))
    headers.append(f"Subject: {subject}")
    if draw(st.booleans()):
        headers.append("Message-ID: <m%d@x>" % draw(st.integers(0, 5)))
    if draw(st.booleans()):
        headers.append("Date: Tue, 1 Oct 2024 10:00:00 +0200")
    head = "\n".join(headers).encode("utf-8")
    if draw(st.integers(0, 4)) == 0:
        head = head.replace("ü".encode(), b"\xfc")  # latin-1 8bit header
    raw = head + b"\n" + draw(_ENTITY)
    if draw(st.booleans()):
        raw = raw.replace(b"\n", b"\r\n")
    mutation = draw(st.integers(0, 9))
    if mutation == 0 and raw:
        raw = raw[: draw(st.integers(0, len(raw)))]  # truncated
    elif mutation == 1:
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.sampled_from([b"\r", b"\n", b"\r\n\r\n", b"--b1--\n"])) + raw[at:]
    return raw


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_message(), st.sampled_from([None, 0, 20]))
def test_generated_messages_match_stdlib(raw, limit):
    assert_same(raw, limit)


def test_switch_off_parses_with_the_stdlib_only(monkeypatch):
    def no_fast_path(raw):
        raise AssertionError("fast path used with FAST_PATH off")

    monkeypatch.setattr(mime, "message_tree", no_fast_path)
    monkeypatch.setattr(mime, "FAST_PATH", False)
    assert parse_message(NESTED).body_text == "plain é"
