"""Which provider's limits a mailbox counts against (the queue channel of its syncs)."""

from crm_mail_channel_core.presets import PROVIDER_FAMILIES, provider_family


def test_named_preset_is_its_own_family():
    assert provider_family("gmail", "imap.gmail.com") == "gmail"
    assert provider_family("microsoft", None) == "microsoft"


def test_server_tells_the_provider_without_a_named_preset():
    assert provider_family(None, "imap.gmail.com") == "gmail"
    assert provider_family("other_imap", "OUTLOOK.office365.com.") == "microsoft"
    assert provider_family(False, "imap.mail.yahoo.com") == "yahoo"


def test_any_other_server_is_other():
    assert provider_family("other_imap", "imap.ourco.example") == "other"
    assert provider_family("other_pop3", None) == "other"
    assert provider_family(None, "gmail.com.evil.example") == "other"


def test_families_are_the_named_presets_and_other():
    assert PROVIDER_FAMILIES == ("gmail", "microsoft", "zoho", "yahoo", "icloud", "other")
