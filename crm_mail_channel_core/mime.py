"""Parse raw RFC 5322 messages into plain data, never failing on bad charsets."""

from __future__ import annotations

import binascii
import codecs
import hashlib
import html
import mimetypes
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email import message_from_bytes, policy
from email._encoded_words import decode_b
from email.header import decode_header
from email.message import Message
from email.utils import parsedate_to_datetime

from .addresses import parse_address_list
from .errors import MessageParseError
from .identity import clean_text, shorten_message_id

__all__ = ["Attachment", "ParsedMessage", "normalize_message_id", "parse_message"]

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

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class ParsedMessage:
    message_id: str
    message_id_synthetic: bool
    subject: str
    date: datetime | None
    email_from: tuple[str, str] | None
    to: list[tuple[str, str]]
    cc: list[tuple[str, str]]
    reply_to: list[tuple[str, str]]
    in_reply_to: str | None
    references: list[str]
    body_html: str
    body_text: str
    preview: str
    attachments: list[Attachment]
    skipped_attachments: list[tuple[str, int]]
    size: int
    is_auto_submitted: bool
    headers: dict[str, str] = field(default_factory=dict, repr=False)

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
        try:
            return data.decode(name, errors="replace")
        except Exception:
            pass
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


# ---- fast MIME splitting -----------------------------------------------------------------------
# The stdlib feedparser reads messages line by line in Python (and compiles a regex per
# boundary), which dominates parse time for messages with large attachments. The fast path
# below finds header blocks and boundary lines with bytes searches and decodes whole part
# bodies at once. It builds the same compat32 ``Message`` tree (same headers, same payload
# split) for well-formed messages and returns None for anything unusual (bare CR line ends,
# missing or misplaced boundaries, unix-from lines, headers without body separator,
# message/* parts, ...), in which case the stdlib parser is used.
_HEADER_NAME_RE = re.compile(r"[\041-\071\073-\176]+:")
_BLANK_LINE_RE = re.compile(rb"\n\r?\n")
_MAX_FAST_DEPTH = 40
_NO_PARAMS = object()


class _Fallback(Exception):
    pass


class _FastPart(Message):
    """compat32 Message whose leaf payload is kept as a slice of the raw bytes."""

    def __init__(self, headers: list[tuple[str, str]], body: bytes | None) -> None:
        super().__init__(policy.compat32)
        self._headers = headers
        self._body = body
        self._params: dict = {}
        self._index: dict | None = None

    # Headers are never changed on these parts: look them up by name through an index
    # instead of Message's linear scan (first occurrence wins, as in Message.get).
    def _first(self, name: str):
        index = self._index
        if index is None:
            index = self._index = {}
            for key, value in self._headers:
                index.setdefault(key.lower(), (key, value))
        return index.get(name.lower())

    def get(self, name, failobj=None):
        found = self._first(name)
        return failobj if found is None else self.policy.header_fetch_parse(*found)

    __getitem__ = get

    def __contains__(self, name) -> bool:
        return self._first(name) is not None

    def _get_params_preserve(self, failobj, header):
        # Content-Type/-Disposition parameters are read several times per part (type,
        # charset, name, filename, boundary); the headers never change here, so parse once.
        try:
            params = self._params[header]
        except KeyError:
            params = self._params[header] = super()._get_params_preserve(_NO_PARAMS, header)
        return failobj if params is _NO_PARAMS else params

    def get_payload(self, i=None, decode=False):
        body = self._body
        if body is None or i is not None:
            return super().get_payload(i, decode)
        if self._payload is None:
            # Only built on demand: the text form the feedparser would have stored.
            self._payload = body.decode("ascii", "surrogateescape")
        if not decode:
            return super().get_payload(i, decode)
        # Same decoding as Message.get_payload(decode=True), without the str round trip.
        cte = str(self.get("content-transfer-encoding", "")).lower()
        if cte == "base64":
            return decode_b(body.translate(None, b"\r\n"))[0]
        if cte == "quoted-printable":
            return binascii.a2b_qp(body)
        if cte in ("x-uuencode", "uuencode", "uue", "x-uue"):
            return super().get_payload(i, decode)
        return body


def _fast_headers(raw: bytes, start: int, end: int) -> tuple[list[tuple[str, str]], int]:
    """Header fields of the entity at raw[start:end] and the offset where its body starts."""
    if raw.startswith(b"\n", start, end):
        return [], start + 1
    if raw.startswith(b"\r\n", start, end):
        return [], start + 2
    blank = _BLANK_LINE_RE.search(raw, start, end)
    if blank is None:
        raise _Fallback  # headers up to the end of the part
    text = raw[start : blank.start()].decode("ascii", "surrogateescape")
    headers: list[tuple[str, str]] = []
    name = None
    value: list[str] = []
    for line in text.split("\n"):
        if line[:1] in (" ", "\t") and line:
            if name is None:
                raise _Fallback  # first header line is a continuation
            value.append(line)
            continue
        match = _HEADER_NAME_RE.match(line)
        if match is None:
            raise _Fallback  # unix-from, missing separator, malformed header line
        if name is not None:
            headers.append((name, "\n".join(value).rstrip("\r\n")))
        name = match.group()[:-1]
        value = [line[match.end() :].lstrip(" \t")]
    if name is not None:
        headers.append((name, "\n".join(value).rstrip("\r\n")))
    return headers, blank.end()


def _boundary_lines(raw: bytes, start: int, end: int, delim: bytes):
    """(line start, next line start, is close) for each boundary line in raw[start:end]."""
    size = len(delim)
    pos = start
    first = raw.startswith(delim, start, end)
    while True:
        if first:
            at, first = start, False
        else:
            at = raw.find(b"\n" + delim, pos, end)
            if at < 0:
                return
            at += 1
        pos = at
        j = at + size
        close = raw.startswith(b"--", j, end)
        if close:
            j += 2
        while j < end and raw[j] in (32, 9):
            j += 1
        if j >= end:
            yield at, end, close
        elif raw[j] == 10:
            yield at, j + 1, close
        elif raw[j] == 13 and raw.startswith(b"\r\n", j, end):
            yield at, j + 2, close
        elif close:
            # "--boundary--x" is no boundary line, but "--boundary" + "--x" might be handled
            # differently by the feedparser's regex backtracking: let it decide.
            raise _Fallback


def _fast_entity(raw: bytes, start: int, end: int, nested: bool, depth: int) -> _FastPart:
    headers, body_start = _fast_headers(raw, start, end)
    part = _FastPart(headers, None)
    maintype = part.get_content_maintype()
    if maintype == "message" or depth > _MAX_FAST_DEPTH:
        raise _Fallback
    if maintype != "multipart":
        body_end = end
        if nested:  # the line end before a boundary belongs to the boundary (RFC 2046)
            if raw.startswith(b"\r\n", body_end - 2, body_end) and body_end - 2 >= body_start:
                body_end -= 2
            elif raw.startswith(b"\n", body_end - 1, body_end) and body_end - 1 >= body_start:
                body_end -= 1
        part._body = raw[body_start:body_end]
        return part
    if part.get_content_type() == "multipart/digest":
        raise _Fallback  # children default to message/rfc822
    boundary = part.get_boundary()
    if not boundary:
        raise _Fallback
    try:
        delim = b"--" + boundary.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        raise _Fallback
    if b"\n" in delim or b"\r" in delim:
        raise _Fallback  # never matches a whole line in the feedparser
    children = []
    part_start = None
    for at, after, close in _boundary_lines(raw, body_start, end, delim):
        if part_start is not None:
            if at == part_start:
                raise _Fallback  # consecutive boundary lines
            children.append(_fast_entity(raw, part_start, at, True, depth + 1))
        elif close:
            raise _Fallback  # close boundary before any part
        if close:
            part._payload = children
            return part
        part_start = after
    raise _Fallback  # no (close) boundary


def _fast_tree(raw: bytes) -> Message | None:
    """compat32-equivalent Message tree of a well-formed message, or None."""
    if raw.count(b"\r") != raw.count(b"\r\n"):
        return None  # bare CR line ends: the feedparser splits lines there too
    try:
        tree = _fast_entity(raw, 0, len(raw), False, 0)
    except _Fallback:
        return None
    return tree if tree._headers else None


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

    message_id = normalize_message_id(headers.get("message-id"))
    synthetic = message_id is None
    if synthetic:
        message_id = _synthetic_id(raw, headers)

    senders = parse_address_list(headers.get("from"))
    if not senders and headers.get("sender"):
        senders = parse_address_list(headers.get("sender"))
    in_reply_to = _message_ids(headers.get("in-reply-to"))
    auto = headers.get("auto-submitted", "").strip().lower()
    precedence = headers.get("precedence", "").strip().lower()
    return ParsedMessage(
        message_id=message_id,
        message_id_synthetic=synthetic,
        subject=decode_header_value(headers.get("subject")),
        date=_parse_date(headers.get("date")),
        email_from=senders[0] if senders else None,
        to=parse_address_list(_raw_all(msg, "to")),
        cc=parse_address_list(_raw_all(msg, "cc")),
        reply_to=parse_address_list(headers.get("reply-to")),
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=_message_ids(headers.get("references")),
        body_html=body_html,
        body_text=body_text,
        preview=_make_preview(body_text),
        attachments=collector.attachments,
        skipped_attachments=collector.skipped,
        size=len(raw),
        is_auto_submitted=bool(auto and auto != "no") or precedence in ("bulk", "list", "junk"),
        headers=headers,
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
    # Fast path first: it splits the MIME structure with bytes searches and only handles
    # well-formed input, giving up (-> stdlib parser) on anything the feedparser would treat
    # specially, so its results are the same as compat32's.
    tree = _fast_tree(raw)
    if tree is not None:
        try:
            return _parse_tree(raw, tree, max_attachment_size)
        except Exception:
            pass  # fall through to the stdlib parser, which decides what is an error
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
