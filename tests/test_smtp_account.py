"""Sending through the user's own account: the plain rules (crm_mail_channel_core.smtp_account)
and a real SMTP submission server on loopback that requires AUTH (the authenticating sink):
XOAUTH2 tokens checked with a local OAuth provider, passwords, Microsoft's 5.7.139."""

import smtplib

import pytest

from crm_mail_channel_core import smtp_account
from crm_mail_channel_testing.oauth_provider import OAuthProvider
from crm_mail_channel_testing.smtp_sink import SmtpAuthPolicy, SmtpSink

RAW = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nHello\r\n"


def test_presets_follow_sign_in_then_preset_then_host():
    assert smtp_account.smtp_preset(None, "google", None).host == "smtp.gmail.com"
    assert smtp_account.smtp_preset("other_imap", "microsoft", "x").host == "smtp.office365.com"
    assert smtp_account.smtp_preset("zoho", "password", None).port == 465
    assert smtp_account.smtp_preset(None, "password", "IMAP.gmail.com").security == "ssl"
    assert smtp_account.smtp_preset("other_imap", "password", "imap.example.com") is None
    assert smtp_account.guess_smtp_host("imap.example.com") == "smtp.example.com"
    assert smtp_account.guess_smtp_host("mail.example.com") is None


def test_only_google_and_microsoft_keep_their_sent_copy():
    assert smtp_account.provider_keeps_sent_copy(None, "google", None)
    assert smtp_account.provider_keeps_sent_copy("microsoft", "password", None)
    assert smtp_account.provider_keeps_sent_copy(None, "password", "imap.gmail.com")
    assert not smtp_account.provider_keeps_sent_copy("zoho", "password", None)
    assert not smtp_account.provider_keeps_sent_copy("other_imap", "password", "imap.x.org")


def test_sends_as_own_addresses_only():
    assert smtp_account.sends_as("me@x.org", ["me@x.org", None])
    assert not smtp_account.sends_as("boss@x.org", ["me@x.org"])
    assert not smtp_account.sends_as(None, [None])


def test_auth_refusals():
    text = "5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled"
    assert smtp_account.classify_auth_refusal(535, text) == smtp_account.REFUSED_TENANT_DISABLED
    assert not smtp_account.should_retry_with_new_token(535, text)
    assert smtp_account.should_retry_with_new_token(535, "5.7.8 Bad token")
    assert not smtp_account.should_retry_with_new_token(454, "4.7.0 Temporary")


@pytest.fixture(scope="module")
def servers():
    provider = OAuthProvider().start()
    policy = SmtpAuthPolicy(
        passwords={"pw@example.com": "right"},
        introspection_url=provider.introspection_url,
        tenant_disabled={"blocked@example.com"},
    )
    sink = SmtpSink(auth_policy=policy).start()
    yield provider, sink
    sink.stop()
    provider.stop()


def _client(sink):
    client = smtplib.SMTP(sink.host, sink.port, timeout=10)
    client.ehlo()
    return client


def _xoauth2(client, login, token):
    code, reply = client.docmd(
        "AUTH", "XOAUTH2 " + smtp_account.xoauth2_initial_response(login, token)
    )
    if code == 334:
        code, reply = client.docmd("")
    return code, reply


def test_live_token_sends(servers):
    provider, sink = servers
    access, _refresh = provider.issue_tokens("oa@example.com")
    client = _client(sink)
    assert "XOAUTH2" in client.esmtp_features["auth"]
    assert _xoauth2(client, "oa@example.com", access)[0] == 235
    client.sendmail("oa@example.com", ["b@example.com"], RAW)
    client.quit()
    received = [m for m in sink.messages if m["mail_from"] == "oa@example.com"]
    assert received[-1]["auth_user"] == "oa@example.com"
    assert received[-1]["auth_mechanism"] == "XOAUTH2"
    assert sink.auth_attempts[-1]["secret"] == access


def test_forged_other_account_or_revoked_token_refused(servers):
    provider, sink = servers
    access, _refresh = provider.issue_tokens("victim@example.com")
    for login, token in (
        ("oa2@example.com", "at-forged"),
        ("oa2@example.com", access),  # another account's token
    ):
        client = _client(sink)
        code, reply = _xoauth2(client, login, token)
        assert (code, reply[:5]) == (535, b"5.7.8")
        client.close()
    provider.revoke("victim@example.com")
    client = _client(sink)
    assert _xoauth2(client, "victim@example.com", access)[0] == 535
    # Not signed in: no mail taken.
    with pytest.raises(smtplib.SMTPSenderRefused):
        client.sendmail("victim@example.com", ["b@example.com"], RAW)
    client.close()


def test_tenant_disabled_and_passwords(servers):
    provider, sink = servers
    access, _refresh = provider.issue_tokens("blocked@example.com")
    client = _client(sink)
    code, reply = _xoauth2(client, "blocked@example.com", access)
    assert code == 535 and b"5.7.139" in reply
    client.close()
    client = _client(sink)
    with pytest.raises(smtplib.SMTPAuthenticationError):
        client.login("pw@example.com", "wrong")
    client.close()
    client = _client(sink)
    client.login("pw@example.com", "right")
    client.sendmail("pw@example.com", ["b@example.com"], RAW)
    client.quit()
    assert sink.messages[-1]["auth_user"] == "pw@example.com"
