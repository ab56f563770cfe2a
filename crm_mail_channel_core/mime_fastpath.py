"""A fast splitter of well-formed MIME messages into the tree the stdlib parser builds.

The stdlib feedparser reads a message line by line in Python (and compiles a regex per
boundary), which dominates parse time for mail with large attachments. ``message_tree`` finds
header blocks and boundary lines with bytes searches and decodes whole part bodies at once.
It builds the same compat32 ``Message`` tree (same headers, same payload split) for
well-formed messages and returns None for anything unusual (bare CR line ends, missing or
misplaced boundaries, unix-from lines, headers without body separator, message/* parts, ...),
so the caller uses the stdlib parser there.

It subclasses ``email.message.Message`` and fills the attributes the feedparser fills
(``_headers``, ``_payload``): tests/test_mime_fastpath.py compares every result with the
stdlib parser's, so a Python release that changes those internals fails there first.
"""

from __future__ import annotations

import binascii
import re
from email import policy

# The decoder Message.get_payload(decode=True) itself uses for base64, lenient padding
# included: the fast path must decode exactly as the stdlib does.
from email._encoded_words import decode_b
from email.message import Message

__all__ = ["message_tree"]

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


def message_tree(raw: bytes) -> Message | None:
    """compat32-equivalent Message tree of a well-formed message, or None."""
    if raw.count(b"\r") != raw.count(b"\r\n"):
        return None  # bare CR line ends: the feedparser splits lines there too
    try:
        tree = _fast_entity(raw, 0, len(raw), False, 0)
    except _Fallback:
        return None
    return tree if tree._headers else None
