"""Layer-1 fixtures: one real Dovecot per test session, a fresh mail user per test."""

from __future__ import annotations

import pytest

from crm_mail_channel_core.mailbox_client import MailboxSettings
from crm_mail_channel_testing.dovecot import DovecotServer, ensure_dovecot


@pytest.fixture(scope="session")
def dovecot() -> DovecotServer:
    return ensure_dovecot()


@pytest.fixture
def mail_user(dovecot):
    """(login, password) of a new, empty mailbox."""
    return dovecot.new_user("t")


def imap_settings(dovecot, login, password, security="none", **kw) -> MailboxSettings:
    port = dovecot.imaps_port if security == "ssl" else dovecot.imap_port
    kw.setdefault("ssl_verify", False)
    kw.setdefault("timeout", 10)
    return MailboxSettings("imap", dovecot.host, port, security, login, password, **kw)


def pop3_settings(dovecot, login, password, security="none", **kw) -> MailboxSettings:
    port = dovecot.pop3s_port if security == "ssl" else dovecot.pop3_port
    kw.setdefault("ssl_verify", False)
    kw.setdefault("timeout", 10)
    return MailboxSettings("pop3", dovecot.host, port, security, login, password, **kw)


@pytest.fixture
def imap_cfg(dovecot, mail_user) -> MailboxSettings:
    return imap_settings(dovecot, *mail_user)
