"""IMAP sign-in with an OAuth 2 token (XOAUTH2) against a Dovecot that checks tokens with a
local provider: a live token works, a forged one, another account's or a revoked one do not."""

import pytest

from crm_mail_channel_core import errors, mailbox_client
from crm_mail_channel_testing.dovecot import start_oauth_dovecot
from crm_mail_channel_testing.oauth_provider import OAuthProvider


@pytest.fixture(scope="module")
def oauth_servers():
    provider = OAuthProvider().start()
    dovecot = start_oauth_dovecot(provider.introspection_url)
    yield provider, dovecot
    dovecot.cleanup()
    provider.stop()


def _settings(dovecot, login, token):
    return mailbox_client.MailboxSettings(
        protocol="imap",
        host=dovecot.host,
        port=dovecot.imap_port,
        security="none",
        login=login,
        password="",
        oauth2_token=token,
        timeout=30,
    )


def test_live_token_logs_in(oauth_servers):
    provider, dovecot = oauth_servers
    login, _password = dovecot.new_user("oa")
    access, _refresh = provider.issue_tokens(login)
    result = mailbox_client.test_connection(_settings(dovecot, login, access))
    assert result


# Dovecot slows down each further refusal from one address (its auth penalty): a few only.
def test_forged_other_account_and_revoked_tokens_refused(oauth_servers):
    provider, dovecot = oauth_servers
    login, password = dovecot.new_user("oa")
    other, _ = dovecot.new_user("oa")
    with pytest.raises(errors.AuthenticationFailed):
        mailbox_client.test_connection(_settings(dovecot, login, "at-forged"))
    with pytest.raises(errors.AuthenticationFailed):
        mailbox_client.test_connection(_settings(dovecot, login, password))
    access, _refresh = provider.issue_tokens(other)
    with pytest.raises(errors.AuthenticationFailed):
        mailbox_client.test_connection(_settings(dovecot, login, access))
    provider.revoke(other)
    with pytest.raises(errors.AuthenticationFailed):
        mailbox_client.test_connection(_settings(dovecot, other, access))
