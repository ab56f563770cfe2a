"""Real-world copies of one message: as its sender stores it, and as delivery changes it."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

OFFER_BODY = "Grüße aus Köln,\nhere is the offer for 12 machines.\nPrice: 1 200 €\n\n-- \nJoe\n"


def sender_copy(
    body=OFFER_BODY,
    message_id="<offer-1@acme.example>",
    attachment=b"%PDF-1.4 offer",
    sender="Joe Customer <joe@acme.example>",
    to="Alice <alice@ourco.example>",
    subject="Offer für 12 Maschinen",
    date="Mon, 30 Nov 2026 10:00:00 +0100",
    headers=None,
):
    """Bytes of a message as its sender's client stores it (8-bit text, a PDF)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = date
    msg["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body, cte="8bit")
    if attachment is not None:
        msg.add_attachment(attachment, maintype="application", subtype="pdf", filename="offer.pdf")
    return msg.as_bytes(policy=email.policy.SMTP)


def transit(raw: bytes) -> bytes:
    """What delivery does: 8-bit text re-encoded as quoted-printable, trace and DKIM added."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    for part in msg.walk():
        if part.get_content_type() == "text/plain" and part["Content-Transfer-Encoding"] == "8bit":
            part.set_content(part.get_content(), charset="utf-8", cte="quoted-printable")
    msg["Received"] = "from mx.acme.example by mx.ourco.example; Mon, 30 Nov 2026 10:00:02 +0100"
    wire = msg.as_bytes(policy=email.policy.SMTP)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    signature = dkim.sign(wire, b"s1", b"acme.example", pem, include_headers=[b"from", b"subject"])
    return signature + wire
