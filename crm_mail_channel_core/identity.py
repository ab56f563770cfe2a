"""When two copies of a message are the same email (no Odoo imports).

A Message-ID is chosen by the sender and travels in the References and In-Reply-To of every
later message, so anybody can put a colleague's Message-ID on a message of their own. Two
copies are therefore one email only when they carry the same Message-ID *and* the same
content fingerprint: a digest of what a reader sees (sender, date, subject, bodies,
attachments), computed from decoded content so that what delivery does to a message (trace
and DKIM headers added, 8-bit text re-encoded as quoted-printable or base64, line ends and
folding changed) does not change it, while one changed byte of a body does.
"""

from __future__ import annotations

import hashlib
import re

__all__ = [
    "LEGACY_FINGERPRINT",
    "MAX_MESSAGE_ID_LENGTH",
    "POSTED_PREFIX",
    "clean_text",
    "content_fingerprint",
    "posted_fingerprint",
    "shorten_message_id",
]

# Emails stored before fingerprints existed: claimed only by a mailbox that already holds them.
LEGACY_FINGERPRINT = "legacy"
# Mail posted from CRM, until the bytes that left (or its Sent-folder copy) give the real one.
POSTED_PREFIX = "posted:"
# Longer Message-IDs are replaced by a digest (a btree index entry holds about 2.7 kB).
MAX_MESSAGE_ID_LENGTH = 500

_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(value):
    """``value`` without NUL and other control characters PostgreSQL or XML refuse."""
    if not value or not isinstance(value, str):
        return value
    return _CONTROL_RE.sub("", value)


def _flat(text):
    # str.split() without arguments is several times faster than a whitespace regex here.
    return " ".join((text or "").split())


def content_fingerprint(parsed):
    """Hex digest of a parsed message's visible content (see the module docstring).

    ``parsed`` is a ``crm_mail_channel_core.mime.ParsedMessage``. Whitespace is collapsed in
    every text, so re-wrapping and line-end changes made in transit do not matter; the date is
    taken in UTC to the second; attachments count by name, type and exact bytes (one skipped
    for its size counts by name and size).
    """
    digest = hashlib.sha256()

    def add(value):
        data = value if isinstance(value, bytes) else str(value).encode("utf-8", "replace")
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)

    sender = parsed.email_from[1] if parsed.email_from else ""
    add(sender.lower())
    add(parsed.date.strftime("%Y-%m-%dT%H:%M:%S") if parsed.date else "")
    add(_flat(parsed.subject))
    add(_flat(parsed.body_text))
    add(_flat(parsed.body_html))
    for attachment in parsed.attachments or ():
        add(_flat(attachment.filename))
        add((attachment.content_type or "").lower())
        add(hashlib.sha256(attachment.data or b"").digest())
    for filename, size in parsed.skipped_attachments or ():
        add(_flat(filename))
        add(str(size))
    return digest.hexdigest()


def posted_fingerprint(message_id, posted_key):
    """Placeholder fingerprint of mail posted from CRM, unique per posted message."""
    key = hashlib.sha256(f"{message_id}\x00{posted_key}".encode("utf-8", "replace")).hexdigest()
    return POSTED_PREFIX + key[:40]


def shorten_message_id(message_id):
    """A Message-ID fit for an index: long ones become a digest in Message-ID form."""
    if not message_id or len(message_id) <= MAX_MESSAGE_ID_LENGTH:
        return message_id
    digest = hashlib.sha256(message_id.encode("utf-8", "replace")).hexdigest()
    return f"<{digest}@long-message-id.invalid>"
