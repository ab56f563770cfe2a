"""Realistic sample messages for tests, the demo and benchmarks."""

from __future__ import annotations

import base64
import random
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from email.header import Header
from email.utils import format_datetime, formataddr, make_msgid, parseaddr
from html import escape

_WORDS = [
    "proposal",
    "pricing",
    "contract",
    "meeting",
    "schedule",
    "quote",
    "renewal",
    "invoice",
    "delivery",
    "product",
    "demo",
    "discount",
    "budget",
    "timeline",
    "support",
    "onboarding",
    "feedback",
    "agreement",
    "order",
    "shipment",
    "review",
    "update",
    "question",
    "follow-up",
    "call",
    "tomorrow",
    "next",
    "week",
    "team",
    "project",
    "thanks",
    "regards",
    "please",
]
_SUBJECTS = (
    "Quote for {n} licences",
    "Re: Meeting next week",
    "Contract renewal {n}",
    "Fwd: Pricing question",
    "Invoice {n}",
    "Demo follow-up",
    "Délai de livraison {n}",
    "Angebot Nr. {n}",
    "Project timeline",
    "Onboarding call",
)


def _header_text(value: str) -> str:
    return value if value.isascii() else Header(value, "utf-8").encode()


def _address(value: str) -> str:
    name, addr = parseaddr(value)
    if not name:
        return addr or value
    return formataddr((name, addr), charset="utf-8")


def _text_part(body: str, subtype: str) -> str:
    encoded = base64.encodebytes(body.encode("utf-8")).decode("ascii")
    return (
        f"Content-Type: text/{subtype}; charset=utf-8\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n" + encoded.replace("\n", "\r\n")
    )


def make_message(
    from_: str,
    to: str | Sequence[str],
    subject: str,
    body: str,
    date: datetime | None = None,
    message_id: str | None = None,
    attachments: Iterable[tuple[str, str, bytes]] = (),
    html: bool = True,
    in_reply_to: str | None = None,
    references: Sequence[str] | None = None,
    cc: Sequence[str] = (),
    extra_headers: dict[str, str] | None = None,
) -> bytes:
    """Build one message (CRLF line ends). ``attachments`` are ``(filename, content_type,
    data)``; ``message_id=''`` leaves the Message-ID header out."""
    # Built from text templates: EmailMessage is ~10x slower, too slow for 10k-message corpora.
    date = date or datetime.now(timezone.utc)
    if date.tzinfo is None:
        date = date.replace(tzinfo=timezone.utc)
    tos = [to] if isinstance(to, str) else list(to)
    headers = [
        ("From", _address(from_)),
        ("To", ", ".join(_address(a) for a in tos)),
    ]
    if cc:
        headers.append(("Cc", ", ".join(_address(a) for a in cc)))
    headers += [("Subject", _header_text(subject)), ("Date", format_datetime(date))]
    if message_id != "":
        headers.append(("Message-ID", message_id or make_msgid(domain="sample.example")))
    if in_reply_to:
        headers.append(("In-Reply-To", in_reply_to))
    if references:
        headers.append(("References", " ".join(references)))
    headers += list((extra_headers or {}).items())
    headers.append(("MIME-Version", "1.0"))

    body_part = _text_part(body, "plain")
    if html:
        paragraphs = "".join(f"<p>{escape(p)}</p>" for p in body.split("\n\n"))
        boundary = f"alt-{uuid.uuid4().hex}"
        body_part = (
            f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
            f"--{boundary}\r\n{body_part}\r\n--{boundary}\r\n"
            + _text_part(f"<html><body>{paragraphs}</body></html>", "html")
            + f"\r\n--{boundary}--\r\n"
        )
    attachments = list(attachments)
    if attachments:
        boundary = f"mix-{uuid.uuid4().hex}"
        parts = [body_part]
        for filename, ctype, data in attachments:
            encoded = base64.encodebytes(data).decode("ascii").replace("\n", "\r\n")
            name = _header_text(filename)
            parts.append(
                f'Content-Type: {ctype}; name="{name}"\r\n'
                f'Content-Disposition: attachment; filename="{name}"\r\n'
                f"Content-Transfer-Encoding: base64\r\n\r\n{encoded}"
            )
        body_part = (
            f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'
            + "".join(f"--{boundary}\r\n{part}\r\n" for part in parts)
            + f"--{boundary}--\r\n"
        )
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    return (head + body_part).encode("utf-8")


def sample_corpus(
    n: int,
    known_addresses: Sequence[str],
    unknown_addresses: Sequence[str] = (),
    seed: int = 0,
    start: datetime | None = None,
    me: str = "me@crm.example",
) -> list[bytes]:
    """``n`` varied messages between ``me`` and the given addresses (deterministic per seed).

    About 10 % have an attachment (a few up to 200 kB), 30 % are replies in a thread,
    bodies range from one line to a few kB.
    """
    rng = random.Random(seed)
    start = start or datetime(2024, 1, 1, tzinfo=timezone.utc)
    others = list(known_addresses) + list(unknown_addresses)
    if not others:
        raise ValueError("need at least one address")
    previous_ids: list[str] = []
    out = []
    for i in range(n):
        other = rng.choice(others)
        incoming = rng.random() < 0.6
        from_, to = (other, me) if incoming else (me, other)
        words = rng.randint(5, 600)
        body = " ".join(rng.choice(_WORDS) for _ in range(words))
        body = body.replace(" please", ".\n\nPlease")
        attachments = []
        if rng.random() < 0.1:
            size = rng.choice((2_000, 20_000, 200_000)) if rng.random() < 0.9 else 1_000
            attachments.append((f"document-{i}.pdf", "application/pdf", rng.randbytes(size)))
        reply_to = rng.choice(previous_ids) if previous_ids and rng.random() < 0.3 else None
        msg_id = f"<sample-{seed}-{i}@sample.example>"
        out.append(
            make_message(
                from_,
                to,
                rng.choice(_SUBJECTS).format(n=rng.randint(100, 999)),
                body,
                date=start + timedelta(minutes=37 * i),
                message_id=msg_id,
                attachments=attachments,
                html=rng.random() < 0.7,
                in_reply_to=reply_to,
                references=[reply_to] if reply_to else None,
            )
        )
        previous_ids.append(msg_id)
    return out
