"""Delivery reports (bounces): recognise them and read what they say (no Odoo imports).

Two shapes reach a sender's mailbox:

- RFC 3464 delivery status notifications: ``multipart/report; report-type=delivery-status``
  with a ``message/delivery-status`` part (one block per recipient: ``Final-Recipient``,
  ``Action``, ``Status``, ``Diagnostic-Code``) and the original message or its headers
  (``message/rfc822``, ``text/rfc822-headers``). Postfix, Exim, Gmail, Exchange send these.
- Plain notices from older servers (qmail's "failure notice", Exim without DSN): a text body
  quoting the original message, recognised by a mail-system sender (or
  ``X-Failed-Recipients``, or an empty Return-Path) *and* a delivery-failure subject.

The original Message-ID is what ties a report to the mail that bounced. A report is machine
mail about the user's own mail, never customer mail, whatever it says.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import Message
from email.parser import HeaderParser

from .addresses import normalize_email
from .identity import shorten_message_id

__all__ = [
    "DeliveryReport",
    "RecipientStatus",
    "bounced_recipients",
    "is_auto_reply",
    "parse_report",
    "read_report",
]

REPORT_TYPES = ("delivery-status", "global-delivery-status")
STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")
ORIGINAL_TYPES = ("message/rfc822", "message/global", "text/rfc822-headers")
ORIGINAL_ID_HEADERS = ("message-id", "x-microsoft-original-message-id")
# Local parts (and display names) of the mail system's own senders.
DAEMON_LOCALS = frozenset({"mailer-daemon", "mailerdaemon", "mail-daemon", "postmaster"})
DAEMON_NAMES = ("mail delivery system", "mail delivery subsystem", "mailer-daemon")
FAILURE_SUBJECT_RE = re.compile(
    r"undeliver|delivery status notification \(failure\)|mail delivery failed|"
    r"delivery (?:has )?fail|failed delivery|returned mail|failure notice|non[- ]?deliver|"
    r"mail system error|could not be delivered|unzustellbar|non remis",
    re.I,
)
DELAY_SUBJECT_RE = re.compile(r"delay|\(delay\)|not yet been delivered|warning: message", re.I)
# Out-of-office and other automatic answers (RFC 3834 says Auto-Submitted; many omit it).
AUTO_REPLY_SUBJECT_RE = re.compile(
    r"^\s*(?:automatic reply|auto(?:matic)?[- ]?(?:reply|response)|autoreply|"
    r"out of (?:the )?office|abwesenheitsnotiz|r[ée]ponse automatique|"
    r"respuesta autom[áa]tica|risposta automatica)",
    re.I,
)
_MSGID_LINE_RE = re.compile(
    r"^[ \t>]*(?:message-id|x-microsoft-original-message-id)[ \t]*:[ \t]*\r?\n?[ \t]*(<[^<>\s]+>)",
    re.I | re.M,
)
_MSGID_RE = re.compile(r"<([^<>\s]+@[^<>\s]+)>")
_ADDR_RE = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
MAX_TEXT = 200_000  # characters of a report's text searched for Message-IDs and addresses
MAX_ADDRESSES = 50


@dataclass(frozen=True)
class RecipientStatus:
    """One recipient block of a delivery status notification."""

    address: str | None  # normalised Final-Recipient, else Original-Recipient
    action: str  # failed, delayed, delivered, relayed, expanded ("" when absent)
    status: str  # e.g. "5.1.1"
    diagnostic: str

    @property
    def failed(self) -> bool:
        return self.action == "failed" or (not self.action and self.status.startswith("5"))


@dataclass(frozen=True)
class DeliveryReport:
    """What a delivery report says about the mail it is about."""

    original_message_ids: tuple[str, ...]  # of the mail the report is about
    recipients: tuple[RecipientStatus, ...]  # RFC 3464 blocks (empty for plain notices)
    text_addresses: tuple[str, ...]  # addresses named in the human-readable text
    failed: bool  # delivery failed for at least one recipient (else delayed or a success)
    reason: str  # first diagnostic, for the event's reasons

    def failed_addresses(self) -> tuple[str, ...]:
        return tuple(r.address for r in self.recipients if r.failed and r.address)


# ---- recognising ------------------------------------------------------------------------------
def _header(msg: Message, name: str) -> str:
    value = msg.get(name)
    return " ".join(str(value).split()) if value is not None else ""


def _sender_is_daemon(msg: Message) -> bool:
    sender = _header(msg, "from").lower()
    if any(name in sender for name in DAEMON_NAMES):
        return True
    address = normalize_email(sender) or ""
    return address.split("@", 1)[0] in DAEMON_LOCALS


def _null_return_path(msg: Message) -> bool:
    value = _header(msg, "return-path")
    return bool(value) and value.replace(" ", "") == "<>"


def _is_dsn(msg: Message) -> bool:
    if msg.get_content_type() != "multipart/report":
        return False
    report_type = str(msg.get_param("report-type") or "").strip().lower()
    return report_type in REPORT_TYPES


def _looks_like_plain_bounce(msg: Message, subject: str) -> bool:
    # The subject first: it rules out nearly all mail before any address is parsed.
    if not (FAILURE_SUBJECT_RE.search(subject) or DELAY_SUBJECT_RE.search(subject)):
        return False
    if msg.get_content_type() == "multipart/report":
        return False  # another report type (read receipts, feedback): not a bounce
    return bool(_sender_is_daemon(msg) or msg.get("x-failed-recipients") or _null_return_path(msg))


# ---- reading ----------------------------------------------------------------------------------
def _walk(msg: Message, depth: int = 0):
    yield msg
    if depth > 20 or not msg.is_multipart():
        return
    payload = msg.get_payload()
    if isinstance(payload, list):
        for part in payload:
            if isinstance(part, Message):
                yield from _walk(part, depth + 1)


def _text(part: Message) -> str:
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if data is None:
        payload = part.get_payload()
        return payload if isinstance(payload, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return data.decode(charset, errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")


def _ids_in_headers(headers: Message) -> list[str]:
    found = []
    for name in ORIGINAL_ID_HEADERS:
        for value in headers.get_all(name) or ():
            found += [f"<{m}>" for m in _MSGID_RE.findall(str(value))]
    return found


def _status_blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    text = _text(part).replace("\r\n", "\n")
    parser = HeaderParser()
    return [parser.parsestr(block.strip() + "\n") for block in re.split(r"\n\s*\n", text) if block]


def _recipient(block: Message) -> RecipientStatus | None:
    final = _header(block, "final-recipient") or _header(block, "original-recipient")
    if not final and not block.get("action"):
        return None  # the per-message block
    address = normalize_email(final.split(";", 1)[-1]) if final else None
    return RecipientStatus(
        address=address,
        action=_header(block, "action").lower(),
        status=_header(block, "status"),
        diagnostic=_header(block, "diagnostic-code")[:500],
    )


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


def read_report(msg: Message) -> DeliveryReport | None:
    """The delivery report ``msg`` is, or None when it is not one (most mail)."""
    subject = _header(msg, "subject")
    dsn = _is_dsn(msg)
    if not dsn and not _looks_like_plain_bounce(msg, subject):
        return None
    ids: list[str] = []
    recipients: list[RecipientStatus] = []
    texts: list[str] = []
    for part in _walk(msg):
        ctype = part.get_content_type()
        if ctype in STATUS_TYPES:
            recipients += [r for r in map(_recipient, _status_blocks(part)) if r]
        elif ctype == "text/rfc822-headers":
            ids += _ids_in_headers(HeaderParser().parsestr(_text(part)))
        elif ctype in ORIGINAL_TYPES:
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else inner
            if isinstance(inner, Message):
                ids += _ids_in_headers(inner)
        elif ctype.startswith("text/") and not part.is_multipart():
            texts.append(_text(part))
    text = "\n".join(texts)[:MAX_TEXT]
    # Plain notices quote the original headers in their text.
    ids += _MSGID_LINE_RE.findall(text)
    if not ids:
        # Some servers (Gmail) also thread the report under the original.
        for name in ("in-reply-to", "references"):
            ids += [f"<{m}>" for m in _MSGID_RE.findall(_header(msg, name))]
    for value in msg.get_all("x-failed-recipients") or ():
        for address in str(value).split(","):
            normalized = normalize_email(address)
            if normalized and not any(r.address == normalized for r in recipients):
                recipients.append(RecipientStatus(normalized, "failed", "", ""))
    addresses = _unique(normalize_email(a) for a in _ADDR_RE.findall(text))[:MAX_ADDRESSES]
    if recipients:
        failed = any(r.failed for r in recipients)
    else:
        failed = bool(FAILURE_SUBJECT_RE.search(subject))
    reason = next((r.diagnostic or r.status for r in recipients if r.failed), "") or subject
    return DeliveryReport(
        original_message_ids=_unique(shorten_message_id(i) for i in ids),
        recipients=tuple(recipients),
        text_addresses=addresses,
        failed=failed,
        reason=reason[:500],
    )


def is_auto_reply(msg: Message) -> bool:
    """Whether ``msg`` is an automatic answer (out of office, auto-responder): not a reply a
    person wrote, though it names the mail it answers."""
    auto = _header(msg, "auto-submitted").lower()
    if auto and auto != "no":
        return True
    if msg.get("x-autoreply") or msg.get("x-autorespond"):
        return True
    if _header(msg, "precedence").lower() == "auto_reply":
        return True
    return bool(AUTO_REPLY_SUBJECT_RE.search(_header(msg, "subject")))


def parse_report(raw: bytes) -> DeliveryReport | None:
    """``read_report`` of raw message bytes."""
    return read_report(message_from_bytes(bytes(raw), policy=policy.compat32))


def bounced_recipients(report: DeliveryReport, candidates: Iterable[str]) -> set[str]:
    """Which of ``candidates`` (normalised recipients of the original mail) bounced.

    The report's failed recipient blocks decide when it has any; a plain notice names the
    addresses in its text; a report naming none of them is about all of them when the mail
    had a single recipient (a report never names someone it is not about).
    """
    if not report.failed:
        return set()
    candidates = {c for c in candidates if c}
    if report.recipients:
        failed = set(report.failed_addresses())
        named = {r.address for r in report.recipients if r.address}
        if failed & candidates or named & candidates:
            return failed & candidates
    mentioned = set(report.text_addresses) & candidates
    if mentioned:
        return mentioned
    if len(candidates) == 1 and not (set(report.failed_addresses()) - candidates):
        return candidates
    return set()
