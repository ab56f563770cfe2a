"""Live inbox previews: headers and the start of the text of the newest INBOX messages.

SalesInbox's "Not in CRM" column reads the user's own mailbox as it is now, without storing
anything: for the newest messages only the headers it shows and the first bytes of the text
part are fetched, with ``BODY.PEEK`` in a folder selected read-only (EXAMINE), so the server
never sets ``\\Seen``. Nothing here imports Odoo; the cache is plain process memory.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parsedate_to_datetime
from typing import Any

from .addresses import parse_address_list
from .mime import decode_bytes, decode_header_value, html_to_text, normalize_message_id

__all__ = [
    "InboxPreview",
    "PreviewCache",
    "decode_partial",
    "fetch_inbox_previews",
    "make_preview",
    "parse_preview_headers",
    "pick_text_part",
]

HEADER_FIELDS = ("FROM", "TO", "CC", "SUBJECT", "DATE", "MESSAGE-ID")
LIVE_WINDOW = 200  # newest messages read per load
PREVIEW_BYTES = 2048  # of a text/plain part; an HTML part gets four times as much
PREVIEW_LENGTH = 160
CACHE_SECONDS = 120

_WS_RE = re.compile(r"\s+")
_BLOCK_OPEN_RE = re.compile(r"<(style|script|head)\b", re.I)
_PARTIAL_TAG_RE = re.compile(r"<[^>]*\Z")
_QP_TAIL_RE = re.compile(rb"=[0-9A-Fa-f]?\Z")


@dataclass(frozen=True)
class InboxPreview:
    uid: int
    message_id: str | None
    subject: str
    sender_name: str
    sender_email: str | None
    to: tuple[str, ...]
    cc: tuple[str, ...]
    date: datetime | None  # UTC, naive
    seen: bool
    preview: str

    def participants(self) -> set[str]:
        found = set(self.to) | set(self.cc)
        if self.sender_email:
            found.add(self.sender_email)
        return found


# ---- plain parsing ---------------------------------------------------------------------------
def _text(value) -> str:
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    return "" if value is None else str(value)


def _params(value) -> dict[str, str]:
    """BODYSTRUCTURE parameter list ``(k1, v1, k2, v2...)`` as a dict with lower-case keys."""
    if not isinstance(value, (list, tuple)):
        return {}
    items = [_text(v) for v in value]
    return {items[i].lower(): items[i + 1] for i in range(0, len(items) - 1, 2)}


def _is_multipart(part) -> bool:
    return bool(part) and isinstance(part[0], (list, tuple))


def _disposition(part, maintype: str) -> str:
    # Extension data: text parts carry a line count before MD5, so disposition comes later.
    index = 9 if maintype == "text" else 8
    if len(part) > index and isinstance(part[index], (list, tuple)) and part[index]:
        return _text(part[index][0]).lower()
    return ""


def pick_text_part(structure) -> tuple[str, str, str, str | None] | None:
    """The part a preview is read from, from an IMAP BODYSTRUCTURE.

    Returns ``(section, subtype, transfer encoding, charset)``: the first inline text/plain
    part, else the first inline text/html part, else None. Attached messages are not entered.
    """
    candidates: list[tuple[str, str, str, str | None]] = []

    def walk(part, section: str) -> None:
        if _is_multipart(part):
            children = part[0]
            for index, child in enumerate(children, start=1):
                walk(child, f"{section}.{index}" if section else str(index))
            return
        maintype, subtype = _text(part[0]).lower(), _text(part[1]).lower()
        if maintype != "text" or subtype not in ("plain", "html"):
            return
        if _disposition(part, maintype) == "attachment":
            return
        charset = _params(part[2]).get("charset")
        encoding = _text(part[5]).lower() if len(part) > 5 else ""
        candidates.append((section or "1", subtype, encoding, charset))

    if structure:
        walk(structure, "")
    for wanted in ("plain", "html"):
        for candidate in candidates:
            if candidate[1] == wanted:
                return candidate
    return None


def decode_partial(data: bytes, encoding: str, charset: str | None, subtype: str) -> str:
    """Text of the first bytes of a body part (cut anywhere: mid-escape, mid-tag)."""
    data = bytes(data or b"")
    encoding = (encoding or "").lower()
    if encoding == "base64":
        compact = re.sub(rb"[^A-Za-z0-9+/=]", b"", data)
        compact = compact[: len(compact) // 4 * 4]
        try:
            data = base64.b64decode(compact)
        except (binascii.Error, ValueError):
            data = b""
    elif encoding == "quoted-printable":
        data = quopri.decodestring(_QP_TAIL_RE.sub(b"", data))
    text = decode_bytes(data, charset)
    if text and "\ufffd" in text[-2:]:
        text = text.rstrip("\ufffd")  # a multi-byte character cut in half
    if subtype == "html":
        text = _PARTIAL_TAG_RE.sub("", _drop_unclosed_block(text))
        text = html_to_text(text)
    return text


def _drop_unclosed_block(markup: str) -> str:
    """``markup`` up to a style, script or head block the cut left open (its content is not
    text to show)."""
    for match in _BLOCK_OPEN_RE.finditer(markup):
        closing = re.compile(rf"</{match.group(1)}\s*>", re.I)
        if not closing.search(markup, match.end()):
            return markup[: match.start()]
    return markup


def make_preview(text: str, length: int = PREVIEW_LENGTH) -> str:
    """One line of the text's start, quoted lines left out, cut at a word."""
    lines = [line for line in (text or "").splitlines() if not line.lstrip().startswith(">")]
    flat = _WS_RE.sub(" ", " ".join(lines)).strip()
    if len(flat) <= length:
        return flat
    cut = flat[:length]
    space = cut.rfind(" ")
    return (cut[:space] if space > length // 2 else cut).rstrip() + "…"


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed if 1970 <= parsed.year <= 2200 else None


def parse_preview_headers(raw: bytes) -> dict[str, Any]:
    """The shown headers of a message from the bytes of ``BODY[HEADER.FIELDS (...)]``."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(bytes(raw or b""))
    sender = parse_address_list(headers.get_all("From") or [])
    return {
        "subject": decode_header_value(headers.get("Subject")),
        "sender_name": sender[0][0] if sender else "",
        "sender_email": sender[0][1] if sender else None,
        "to": tuple(addr for _name, addr in parse_address_list(headers.get_all("To") or [])),
        "cc": tuple(addr for _name, addr in parse_address_list(headers.get_all("Cc") or [])),
        "date": _parse_date(decode_header_value(headers.get("Date"))),
        "message_id": normalize_message_id(headers.get("Message-ID")),
    }


def _item(response: dict, prefix: bytes):
    for key, value in response.items():
        if isinstance(key, bytes) and key.upper().startswith(prefix):
            return value
    return None


# ---- the server --------------------------------------------------------------------------------
def fetch_inbox_previews(
    session,
    count: int = LIVE_WINDOW,
    preview_bytes: int = PREVIEW_BYTES,
    folder: str = "INBOX",
) -> list[InboxPreview]:
    """Previews of the ``count`` newest messages of ``folder``, newest first.

    ``session`` is a logged-in ``mailbox_client.ImapSession``. The folder is selected
    read-only and every body item is a ``BODY.PEEK``: reading previews never marks mail read.
    """
    from .mailbox_client import map_error  # imapclient is only needed here

    client = session.client
    try:
        with session._imaplib_debug_off():
            session._select(folder, readonly=True)
            uids = sorted(int(u) for u in client.search(["ALL"]))[-count:]
            if not uids:
                return []
            header_item = f"BODY.PEEK[HEADER.FIELDS ({' '.join(HEADER_FIELDS)})]"
            meta = client.fetch(uids, ["FLAGS", "BODYSTRUCTURE", header_item])
            by_section: dict[tuple[str, int], list[int]] = {}
            parts: dict[int, tuple[str, str, str, str | None]] = {}
            for uid, response in meta.items():
                part = pick_text_part(response.get(b"BODYSTRUCTURE"))
                if part:
                    parts[int(uid)] = part
                    size = preview_bytes * (4 if part[1] == "html" else 1)
                    by_section.setdefault((part[0], size), []).append(int(uid))
            bodies: dict[int, bytes] = {}
            for (section, size), group in by_section.items():
                data = client.fetch(group, [f"BODY.PEEK[{section}]<0.{size}>"])
                for uid, response in data.items():
                    bodies[int(uid)] = bytes(_item(response, f"BODY[{section}]".encode()) or b"")
    except Exception as exc:
        raise map_error(exc, session.settings) from exc
    previews = []
    for uid in reversed(uids):
        response = meta.get(uid)
        if response is None:
            continue  # expunged meanwhile
        headers = parse_preview_headers(_item(response, b"BODY[HEADER") or b"")
        text = ""
        if uid in parts:
            _section, subtype, encoding, charset = parts[uid]
            text = decode_partial(bodies.get(uid, b""), encoding, charset, subtype)
        flags = {_text(flag).lower() for flag in response.get(b"FLAGS", ())}
        previews.append(
            InboxPreview(
                uid=uid,
                seen="\\seen" in flags,
                preview=make_preview(text),
                **headers,
            )
        )
    previews.sort(key=lambda p: (p.date or datetime.min, p.uid), reverse=True)
    return previews


# ---- per-user memory cache ---------------------------------------------------------------------
class PreviewCache:
    """Values kept in this process for ``ttl`` seconds, by key; never written anywhere.

    Keys name the user they belong to, so one user's entry is never returned for another.
    """

    def __init__(
        self,
        ttl: float = CACHE_SECONDS,
        max_entries: int = 256,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, stale: bool = False):
        """The value, or None once older than ``ttl``; ``stale``: whatever its age (kept until
        evicted by ``put``, for when the mailbox cannot be read now)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if not stale and self.clock() - entry[0] > self.ttl:
                return None
            return entry[1]

    def put(self, key: Hashable, value) -> None:
        with self._lock:
            now = self.clock()
            if len(self._entries) >= self.max_entries:
                stale = [k for k, (at, _v) in self._entries.items() if now - at > self.ttl]
                for k in stale or sorted(self._entries, key=lambda k: self._entries[k][0])[:1]:
                    del self._entries[k]
            self._entries[key] = (now, value)

    def drop(self, match: Callable[[Hashable], bool]) -> None:
        with self._lock:
            for key in [k for k in self._entries if match(k)]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def unknown_senders(
    previews: Sequence[InboxPreview],
    known: Callable[[str], bool],
) -> list[InboxPreview]:
    """The previews whose sender is not ``known`` (and has an address)."""
    return [p for p in previews if p.sender_email and not known(p.sender_email)]
