"""Connection presets for common mail providers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProviderPreset:
    key: str
    label: str
    protocol: str  # 'imap' | 'pop3'
    host: str | None
    port: int
    security: str  # 'ssl' | 'starttls' | 'none'
    note: str = ""


PROVIDER_PRESETS: dict[str, ProviderPreset] = {
    preset.key: preset
    for preset in (
        ProviderPreset(
            "gmail",
            "Gmail / Google Workspace",
            "imap",
            "imap.gmail.com",
            993,
            "ssl",
            "Google accepts only an app password here (it requires 2-Step Verification): "
            "create one under Google Account > Security > App passwords. IMAP must be enabled "
            "in Gmail settings.",
        ),
        ProviderPreset(
            "microsoft",
            "Microsoft 365 / Outlook.com",
            "imap",
            "outlook.office365.com",
            993,
            "ssl",
            "Microsoft has turned off password (basic) IMAP for most accounts; a password login "
            "will usually be refused and an OAuth sign-in is needed. Ask your administrator.",
        ),
        ProviderPreset(
            "zoho",
            "Zoho Mail",
            "imap",
            "imap.zoho.com",
            993,
            "ssl",
            "Enable IMAP access in Zoho Mail settings. With two-factor authentication use an "
            "application-specific password.",
        ),
        ProviderPreset(
            "yahoo",
            "Yahoo Mail",
            "imap",
            "imap.mail.yahoo.com",
            993,
            "ssl",
            "Yahoo requires an app password: Account Security > Generate app password.",
        ),
        ProviderPreset(
            "icloud",
            "iCloud Mail",
            "imap",
            "imap.mail.me.com",
            993,
            "ssl",
            "Apple requires an app-specific password (appleid.apple.com > Sign-In and Security). "
            "The login is your full iCloud address.",
        ),
        ProviderPreset(
            "other_imap",
            "Other (IMAP)",
            "imap",
            None,
            993,
            "ssl",
            "Enter your provider's IMAP server name. Port 993 with SSL is the usual setting.",
        ),
        ProviderPreset(
            "other_pop3",
            "Other (POP3)",
            "pop3",
            None,
            995,
            "ssl",
            "Enter your provider's POP3 server name. IMAP is strongly recommended instead.",
        ),
    )
}

POP3_WARNING = (
    "IMAP is strongly recommended. POP3 only reads the inbox: your sent mail is not synced "
    "(POP3 has no Sent folder), read/unread state is not kept in step with your mail program, "
    "and other folders are ignored. Messages are never deleted from the server."
)
