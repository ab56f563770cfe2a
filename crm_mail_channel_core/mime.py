"""Parse raw RFC 5322 messages into plain data, never failing on bad charsets."""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import html
import mimetypes
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from email import message_from_bytes, policy
from email.header import decode_header
from email.message import Message
from email.utils import parsedate_to_datetime

from .addresses import parse_address_list
from .bounces import DeliveryReport, is_auto_reply, read_report
from .errors import MessageParseError
from .identity import clean_text, shorten_message_id
from .mime_fastpath import message_tree

__all__ = ["FAST_PATH", "Attachment", "ParsedMessage", "normalize_message_id", "parse_message"]

# Split well-formed messages with mime_fastpath (2-3 times the stdlib parser's rate on the
# sample corpus, see bench/bench_protocol.py) before the stdlib parser. False parses with the
# stdlib parser only: the reference the fast path is tested against.
FAST_PATH = True

SYNTHETIC_DOMAIN = "synthetic.crm-mail-channel"
PREVIEW_LENGTH = 200

_MSGID_RE = re.compile(r"<([^<>\s]+)>")
_FOLD_RE = re.compile(r"\r?\n(?=[ \t])")
_WS_RE = re.compile(r"\s+")
_TAG_RE = re.compile(r"<[^>]*>")
_DROP_BLOCKS_RE = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.S | re.I)
_BLOCK_TAGS_RE = re.compile(r"<\s*(br|/p|/div|/tr|/li|/h[1-6])\b[^>]*>", re.I)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None
    inline: bool = False


@dataclass(frozen=True)
class ParsedMessage:
    message_id: str  # a digest under SYNTHETIC_DOMAIN for mail without one
    subject: str
    date: datetime | None
    email_from: tuple[str, str] | None
    to: list[tuple[str, str]]
    cc: list[tuple[str, str]]
    in_reply_to: str | None
    references: list[str]
    body_html: str  # the HTML part, else the text part as HTML (text_to_html)
    body_text: str  # the text part, else text from the HTML part
    preview: str
    attachments: list[Attachment]
    skipped_attachments: list[tuple[str, int]]  # (filename, size) over the size limit
    date_utc_offset: int | None = None  # minutes east of UTC in the Date header (best time)
    # A delivery report (bounce) and what it says; None for other mail (bounces.py).
    delivery_report: DeliveryReport | None = None
    auto_reply: bool = False  # out of office, auto-responder (bounces.is_auto_reply)

    def participants(self) -> set[str]:
        """Normalised addresses from From, To and Cc."""
        found = {addr for _name, addr in self.to + self.cc}
        if self.email_from:
            found.add(self.email_from[1])
        return found


# ---- decoding helpers ------------------------------------------------------------------------
def _lookup_charset(charset: str | None) -> str | None:
    if not charset:
        return None
    charset = charset.strip().strip('"').lower()
    try:
        return codecs.lookup(charset).name
    except LookupError:
        return None


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode with the declared charset; unknown or missing -> UTF-8, else cp1252/latin-1."""
    name = _lookup_charset(charset)
    if name and name not in ("ascii", "us-ascii"):
        # A codec may still fail (e.g. one that cannot decode at all): then guess below.
        with contextlib.suppress(Exception):
            return data.decode(name, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _fix_surrogates(value: str) -> str:
    # The bytes parser keeps raw 8-bit header bytes as surrogate escapes.
    if value.isascii():
        return value
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        return decode_bytes(value.encode("ascii", "surrogateescape"), None)
    return value


def decode_header_value(value) -> str:
    """Decode an RFC 2047 header value into text; never raises."""
    if value is None:
        return ""
    value = _fix_surrogates(_FOLD_RE.sub("", str(value)))
    if "=?" not in value:
        return _WS_RE.sub(" ", value).strip()
    try:
        parts = decode_header(value)
    except Exception:
        return _WS_RE.sub(" ", value).strip()
    out = []
    for chunk, charset in parts:
        out.append(decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk)
    return _WS_RE.sub(" ", "".join(out)).strip()


def normalize_message_id(value: str | None) -> str | None:
    """``<id@host>`` form of a Message-ID-like header value, or None."""
    if not value:
        return None
    value = clean_text(_fix_surrogates(str(value))).strip()
    match = _MSGID_RE.search(value)
    if match:
        return shorten_message_id(f"<{match.group(1)}>")
    token = value.split()[0].strip("<>") if value.split() else ""
    return shorten_message_id(f"<{token}>") if token else None


def _message_ids(value: str | None) -> list[str]:
    if not value:
        return []
    value = clean_text(_fix_surrogates(str(value)))
    ids = [f"<{m}>" for m in _MSGID_RE.findall(value)]
    if not ids:
        ids = [f"<{t.strip('<>')}>" for t in value.split() if "@" in t]
    return list(dict.fromkeys(shorten_message_id(i) for i in ids))


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = parsedate_to_datetime(_fix_surrogates(str(value)).strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if dt is None:
        return None
    try:
        if dt.tzinfo is not None:
            dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    except (OverflowError, ValueError):
        return None
    if not 1970 <= dt.year <= 2200:
        return None
    return dt


def _date_utc_offset(value: str | None) -> int | None:
    """Minutes east of UTC written in a Date header (None when absent or "-0000")."""
    if not value:
        return None
    try:
        dt = parsedate_to_datetime(_fix_surrogates(str(value)).strip())
        offset = dt.utcoffset() if dt is not None and dt.tzinfo is not None else None
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if offset is None:
        return None
    minutes = int(offset.total_seconds() // 60)
    return minutes if -14 * 60 <= minutes <= 14 * 60 else None


def text_to_html(text: str) -> str:
    """Simple HTML for a plain-text body: escaped, paragraphs and line breaks kept."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    if not text:
        return ""
    paragraphs = re.split(r"\n\s*\n", text)
    return "".join(
        "<p>" + html.escape(para).replace("\n", "<br>\n") + "</p>\n" for para in paragraphs
    )


def html_to_text(markup: str) -> str:
    """Rough plain text from HTML (for previews and search), not a sanitiser."""
    markup = _DROP_BLOCKS_RE.sub(" ", markup)
    markup = _BLOCK_TAGS_RE.sub("\n", markup)
    text = html.unescape(_TAG_RE.sub(" ", markup))
    lines = (_WS_RE.sub(" ", line).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def _make_preview(text: str) -> str:
    flat = None
    if len(text) > PREVIEW_LENGTH * 5:
        # Collapsing a prefix gives the same first characters as collapsing everything; only
        # the end of a long body is skipped.
        head = _WS_RE.sub(" ", text[: PREVIEW_LENGTH * 5]).lstrip()
        if len(head) > PREVIEW_LENGTH + 1:
            flat = head
    if flat is None:
        flat = _WS_RE.sub(" ", text).strip()
        if len(flat) <= PREVIEW_LENGTH:
            return flat
    cut = flat[:PREVIEW_LENGTH]
    space = cut.rfind(" ")
    return (cut[:space] if space > PREVIEW_LENGTH // 2 else cut).rstrip() + "…"


# ---- body walking ----------------------------------------------------------------------------
class _Collector:
    def __init__(self, max_attachment_size: int | None) -> None:
        self.max_attachment_size = max_attachment_size
        self.text_parts: list[str] = []
        self.html_parts: list[str] = []
        self.attachments: list[Attachment] = []
        self.skipped: list[tuple[str, int]] = []

    def walk(self, part: Message, depth: int = 0) -> None:
        ctype = (part.get_content_type() or "text/plain").lower()
        if part.is_multipart() and depth < 50:
            payload = part.get_payload()
            children = payload if isinstance(payload, list) else []
            if ctype == "multipart/alternative":
                # Take one text and one html alternative (the last is the richest).
                self._walk_alternative(children, depth)
                return
            for child in children:
                self.walk(child, depth + 1)
            return
        disposition = (part.get_content_disposition() or "").lower()
        filename = self._filename(part)
        is_body_text = ctype in ("text/plain", "text/html") and disposition != "attachment"
        if is_body_text and not filename:
            data = part.get_payload(decode=True) or b""
            text = decode_bytes(data, part.get_content_charset())
            (self.html_parts if ctype == "text/html" else self.text_parts).append(text)
            return
        self._add_attachment(part, ctype, disposition, filename)

    def _walk_alternative(self, children: list, depth: int) -> None:
        before_text, before_html = len(self.text_parts), len(self.html_parts)
        for child in children:
            self.walk(child, depth + 1)
        # Keep only the first plain and the last html alternative.
        if len(self.text_parts) - before_text > 1:
            del self.text_parts[before_text + 1 :]
        if len(self.html_parts) - before_html > 1:
            last = self.html_parts[-1]
            del self.html_parts[before_html:]
            self.html_parts.append(last)

    @staticmethod
    def _filename(part: Message) -> str | None:
        try:
            name = part.get_filename()
        except Exception:
            name = None
        if not name:
            try:
                name = part.get_param("name")
            except Exception:
                name = None
            if isinstance(name, tuple):  # RFC 2231 triple
                name = decode_bytes((name[2] or "").encode("latin-1", "replace"), name[0])
        return decode_header_value(name) if name else None

    def _add_attachment(
        self, part: Message, ctype: str, disposition: str, filename: str | None
    ) -> None:
        if ctype == "message/rfc822" or part.is_multipart():
            payload = part.get_payload()
            inner = payload[0] if isinstance(payload, list) and payload else payload
            data = inner.as_bytes() if isinstance(inner, Message) else bytes(str(inner), "utf-8")
            filename = filename or "forwarded-message.eml"
        else:
            data = part.get_payload(decode=True) or b""
        if not filename:
            ext = mimetypes.guess_extension(ctype) or ".bin"
            filename = f"attachment-{len(self.attachments) + len(self.skipped) + 1}{ext}"
        if self.max_attachment_size is not None and len(data) > self.max_attachment_size:
            self.skipped.append((filename, len(data)))
            return
        cid = part.get("Content-ID")
        cid = normalize_message_id(str(cid)) if cid else None
        self.attachments.append(
            Attachment(
                filename=filename,
                content_type=ctype,
                data=data,
                content_id=cid[1:-1] if cid else None,
                inline=disposition == "inline" or (disposition != "attachment" and bool(cid)),
            )
        )


# ---- entry point -----------------------------------------------------------------------------
def _synthetic_id(raw: bytes, headers: dict[str, str]) -> str:
    sep = raw.find(b"\r\n\r\n")
    body = raw[sep + 4 :] if sep >= 0 else raw[raw.find(b"\n\n") + 2 :] if b"\n\n" in raw else b""
    body_digest = hashlib.sha256(body.replace(b"\r\n", b"\n").strip()).hexdigest()
    key = "\x00".join(
        _WS_RE.sub(" ", headers.get(name, "")).strip() for name in ("date", "from", "to", "subject")
    )
    digest = hashlib.sha256((key + "\x00" + body_digest).encode("utf-8", "replace")).hexdigest()
    return f"<{digest}@{SYNTHETIC_DOMAIN}>"


def _first_headers(msg: Message) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in msg.raw_items():
        key = name.lower()
        if key not in headers:
            headers[key] = _fix_surrogates(_FOLD_RE.sub("", str(value)))
    return headers


def _parse_with(raw: bytes, pol, max_attachment_size: int | None) -> ParsedMessage:
    return _parse_tree(raw, message_from_bytes(raw, policy=pol), max_attachment_size)


def _parse_tree(raw: bytes, msg: Message, max_attachment_size: int | None) -> ParsedMessage:
    headers = _first_headers(msg)
    if not headers:
        raise MessageParseError(detail="no headers found")
    collector = _Collector(max_attachment_size)
    collector.walk(msg)

    body_text = "\n\n".join(t.strip("\r\n") for t in collector.text_parts).replace("\r\n", "\n")
    body_html = "\n".join(collector.html_parts)
    if not body_html:
        body_html = text_to_html(body_text)
    if not body_text and collector.html_parts:
        body_text = html_to_text(body_html)

    message_id = normalize_message_id(headers.get("message-id")) or _synthetic_id(raw, headers)

    senders = parse_address_list(headers.get("from"))
    if not senders and headers.get("sender"):
        senders = parse_address_list(headers.get("sender"))
    in_reply_to = _message_ids(headers.get("in-reply-to"))
    return ParsedMessage(
        message_id=message_id,
        subject=decode_header_value(headers.get("subject")),
        date=_parse_date(headers.get("date")),
        email_from=senders[0] if senders else None,
        to=parse_address_list(_raw_all(msg, "to")),
        cc=parse_address_list(_raw_all(msg, "cc")),
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=_message_ids(headers.get("references")),
        body_html=body_html,
        body_text=body_text,
        preview=_make_preview(body_text),
        attachments=collector.attachments,
        skipped_attachments=collector.skipped,
        date_utc_offset=_date_utc_offset(headers.get("date")),
        delivery_report=read_report(msg),
        auto_reply=is_auto_reply(msg),
    )


def _raw_all(msg: Message, name: str) -> list[str]:
    return [_fix_surrogates(str(v)) for key, v in msg.raw_items() if key.lower() == name]


def parse_message(raw: bytes, max_attachment_size: int | None = None) -> ParsedMessage:
    """Parse raw message bytes. Raises MessageParseError only for input that is not an email."""
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise MessageParseError(detail=f"expected bytes, got {type(raw).__name__}")
    raw = bytes(raw)
    if not raw.strip():
        raise MessageParseError(detail="empty message")
    tree = message_tree(raw) if FAST_PATH else None
    if tree is not None:
        # Any error here goes to the stdlib parser, which decides what is an error.
        with contextlib.suppress(Exception):
            return _parse_tree(raw, tree, max_attachment_size)
    return _parse_stdlib(raw, max_attachment_size)


def _parse_stdlib(raw: bytes, max_attachment_size: int | None) -> ParsedMessage:
    """The reference path: the stdlib parser (compat32, then policy.default)."""
    # compat32 first: we read raw headers and decode them ourselves, and it is several times
    # faster than policy.default (whose header objects are built on every access).
    try:
        return _parse_with(raw, policy.compat32, max_attachment_size)
    except MessageParseError:
        raise
    except Exception:
        try:
            return _parse_with(raw, policy.default, max_attachment_size)
        except MessageParseError:
            raise
        except Exception as exc:
            raise MessageParseError(detail=f"{type(exc).__name__}: {exc}") from exc
