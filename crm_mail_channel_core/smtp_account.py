"""Sending mail through the user's own mail account (their provider's SMTP server).

Plain rules, no Odoo: the outgoing server of common providers, whether the provider keeps a
copy of what it sends in the Sent folder itself, which mail a user sends "as themselves",
the SASL XOAUTH2 initial response, and how to read a refused AUTH.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass


@dataclass(frozen=True)
class SmtpPreset:
    host: str
    port: int
    security: str  # 'ssl' | 'starttls' | 'none'
    # The provider stores mail sent through its SMTP server in Sent itself (a second copy
    # appended by CRM would show twice).
    keeps_sent_copy: bool = False


# Keyed like crm_mail_channel_core.presets.PROVIDER_PRESETS.
SMTP_PRESETS: dict[str, SmtpPreset] = {
    "gmail": SmtpPreset("smtp.gmail.com", 465, "ssl", keeps_sent_copy=True),
    "microsoft": SmtpPreset("smtp.office365.com", 587, "starttls", keeps_sent_copy=True),
    "zoho": SmtpPreset("smtp.zoho.com", 465, "ssl"),
    "yahoo": SmtpPreset("smtp.mail.yahoo.com", 465, "ssl"),
    "icloud": SmtpPreset("smtp.mail.me.com", 587, "starttls"),
}
# A provider sign-in names its provider, whatever the preset says.
AUTH_TYPE_PRESETS = {"google": "gmail", "microsoft": "microsoft"}
# Mailboxes set up without a preset, recognised by their IMAP server.
IMAP_HOST_PRESETS = {
    "imap.gmail.com": "gmail",
    "imap.googlemail.com": "gmail",
    "outlook.office365.com": "microsoft",
    "imap-mail.outlook.com": "microsoft",
    "imap.zoho.com": "zoho",
    "imap.mail.yahoo.com": "yahoo",
    "imap.mail.me.com": "icloud",
}

# What a refused AUTH means.
REFUSED_TENANT_DISABLED = "tenant_disabled"  # Microsoft 365: SMTP AUTH turned off
REFUSED_CREDENTIALS = "credentials"  # wrong password, or a token the server did not take


def provider_key(preset: str | None, auth_type: str | None, imap_host: str | None) -> str | None:
    """The provider of a mailbox: its sign-in first, then its preset, then its IMAP server."""
    if auth_type in AUTH_TYPE_PRESETS:
        return AUTH_TYPE_PRESETS[auth_type]
    if preset in SMTP_PRESETS:
        return preset
    return IMAP_HOST_PRESETS.get((imap_host or "").strip().lower().rstrip("."))


def smtp_preset(
    preset: str | None, auth_type: str | None, imap_host: str | None
) -> SmtpPreset | None:
    key = provider_key(preset, auth_type, imap_host)
    return SMTP_PRESETS.get(key) if key else None


def guess_smtp_host(imap_host: str | None) -> str | None:
    """``imap.example.com`` → ``smtp.example.com`` (a suggestion the owner sees and checks)."""
    host = (imap_host or "").strip().lower()
    if host.startswith("imap.") and len(host) > len("imap."):
        return "smtp." + host[len("imap.") :]
    return None


def provider_keeps_sent_copy(
    preset: str | None, auth_type: str | None, imap_host: str | None
) -> bool:
    found = smtp_preset(preset, auth_type, imap_host)
    return bool(found and found.keeps_sent_copy)


def sends_as(from_address: str | None, own_addresses) -> bool:
    """Whether a mail whose From is ``from_address`` (normalised) is sent by its creator as
    themselves: one of their own addresses (``own_addresses``, normalised)."""
    own = {address for address in own_addresses if address}
    return bool(from_address) and from_address in own


def xoauth2_initial_response(login: str, token: str) -> str:
    """The base64 argument of ``AUTH XOAUTH2`` (Google's and Microsoft's SASL XOAUTH2)."""
    return base64.b64encode(f"user={login}\1auth=Bearer {token}\1\1".encode()).decode()


def classify_auth_refusal(code: int, reply: str) -> str:
    """Why an SMTP server refused AUTH, from its reply."""
    if "5.7.139" in (reply or ""):
        return REFUSED_TENANT_DISABLED
    return REFUSED_CREDENTIALS


def should_retry_with_new_token(code: int, reply: str) -> bool:
    """A refused token may have been withdrawn since it was issued: getting a new one says
    whether the sign-in itself still holds (once). Tenant settings are not about the token."""
    return code == 535 and classify_auth_refusal(code, reply) != REFUSED_TENANT_DISABLED
