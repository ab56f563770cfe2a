"""Layer-1 fixtures: one real Dovecot per test session, a fresh mail user per test."""

from __future__ import annotations

import contextlib
import uuid

import psycopg2
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


# The local PostgreSQL of the test machine (trust authentication).
PG = {"host": "127.0.0.1", "user": "root"}


@contextlib.contextmanager
def scratch_database(prefix: str, ddl: str):
    """A new PostgreSQL database holding the tables ``ddl`` creates; dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(dbname="postgres", **PG)
    admin.autocommit = True
    with admin.cursor() as cr:
        cr.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg2.connect(dbname=name, **PG) as conn, conn.cursor() as cr:
            cr.execute(ddl)
        conn.close()
        yield name
    finally:
        with admin.cursor() as cr:
            cr.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
