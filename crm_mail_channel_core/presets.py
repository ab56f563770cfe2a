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
    note: str = ""  # plain-words guidance shown when the provider is chosen
    needs_oauth: bool = False  # refuses passwords: only an OAuth sign-in connects
    oauth_addon: str = ""  # the Odoo addon that brings that sign-in


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
            "Google does not accept your usual password here: use an app password. Turn on "
            "2-Step Verification, then create one under Google Account > Security > App "
            "passwords, and type it below. With Google Workspace, IMAP must also be allowed "
            "by your administrator.",
        ),
        ProviderPreset(
            "microsoft",
            "Microsoft 365 / Outlook.com",
            "imap",
            "outlook.office365.com",
            993,
            "ssl",
            "Microsoft 365 and Outlook.com no longer accept a password from mail programs: "
            'they need a Microsoft sign-in (OAuth). That sign-in comes with the app "CRM Mail '
            'Channel - Microsoft", which is not installed in this database. Ask your '
            "administrator to install it, or connect another mailbox.",
            needs_oauth=True,
            oauth_addon="crm_mail_channel_microsoft",
        ),
        ProviderPreset(
            "zoho",
            "Zoho Mail",
            "imap",
            "imap.zoho.com",
            993,
            "ssl",
            "Turn on IMAP access in Zoho Mail (Settings > Mail Accounts). If your account uses "
            "two-factor authentication, create an application-specific password and type it "
            "below instead of your usual password.",
        ),
        ProviderPreset(
            "yahoo",
            "Yahoo Mail",
            "imap",
            "imap.mail.yahoo.com",
            993,
            "ssl",
            "Yahoo does not accept your usual password here: use an app password. Create one "
            "under Account Info > Account Security > Generate app password, and type it below.",
        ),
        ProviderPreset(
            "icloud",
            "iCloud Mail",
            "imap",
            "imap.mail.me.com",
            993,
            "ssl",
            "Apple does not accept your usual password here: use an app-specific password. "
            "Create one at appleid.apple.com > Sign-In and Security > App-Specific Passwords. "
            "The login is your full iCloud address.",
        ),
        ProviderPreset(
            "other_imap",
            "Other (IMAP)",
            "imap",
            None,
            993,
            "ssl",
            "Type your provider's IMAP server name (for example imap.yourcompany.com). Port 993 "
            "with SSL/TLS is the usual setting; your provider's help pages give the exact one.",
        ),
        ProviderPreset(
            "other_pop3",
            "Other (POP3)",
            "pop3",
            None,
            995,
            "ssl",
            "Type your provider's POP3 server name. Choose IMAP instead when your provider "
            "offers it: POP3 reads the inbox only.",
        ),
    )
}

POP3_WARNING = (
    "IMAP is strongly recommended. POP3 only reads the inbox: your sent mail is not synced "
    "(POP3 has no Sent folder), read/unread state is not kept in step with your mail program, "
    "and other folders are ignored. Messages are never deleted from the server."
)


def provider_family(preset_key: str | None, host: str | None) -> str:
    """The provider whose limits a mailbox counts against: its named preset, else the preset
    whose server it uses (mailboxes made by scripts or connected by a sign-in have no preset),
    else "other". Job queues give each provider its own capacity (crm_mail_channel_queue_job).
    """
    preset = PROVIDER_PRESETS.get(preset_key or "")
    if preset and preset.host:
        return preset.key
    host = (host or "").strip().lower().rstrip(".")
    for candidate in PROVIDER_PRESETS.values():
        if not candidate.host:
            continue
        domain = candidate.host.split(".", 1)[1]
        if host == candidate.host or host.endswith("." + domain):
            return candidate.key
    return "other"


PROVIDER_FAMILIES = (*(p.key for p in PROVIDER_PRESETS.values() if p.host), "other")
