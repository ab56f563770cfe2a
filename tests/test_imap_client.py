"""ImapSession / Pop3Session / test_connection against a real Dovecot."""

from __future__ import annotations

import socket
import uuid
from datetime import date, datetime

import pytest

from crm_mail_channel_core import mailbox_client
from crm_mail_channel_core.errors import (
    AppPasswordRequired,
    AuthenticationFailed,
    HostUnreachable,
    TlsError,
)
from crm_mail_channel_core.mailbox_client import (
    MailboxSettings,
    map_error,
    open_session,
    test_connection,
)
from crm_mail_channel_testing.samples import make_message, sample_corpus
from tests.conftest import imap_settings, pop3_settings


def _msg(i: int, **kw) -> bytes:
    return make_message(
        "a@client.org",
        "me@crm.example",
        f"msg {i}",
        f"body {i}",
        datetime(2024, 5, 1 + i % 20),
        message_id=f"<m{i}@t>",
        **kw,
    )


def test_connection_ok_plain_and_ssl(dovecot, mail_user):
    dovecot.append_messages(*mail_user, "INBOX", [_msg(1), _msg(2)])
    info = test_connection(imap_settings(dovecot, *mail_user))
    assert info["protocol"] == "imap" and info["message_count"] == 2
    assert info["sent_folder"] == "Sent" and "INBOX" in info["folders"]
    assert "CONDSTORE" in info["capabilities"]
    ssl_info = test_connection(imap_settings(dovecot, *mail_user, security="ssl"))
    assert ssl_info["message_count"] == 2


def test_starttls(dovecot, mail_user):
    info = test_connection(imap_settings(dovecot, *mail_user, security="starttls"))
    assert info["protocol"] == "imap"


def test_self_signed_cert_rejected_when_verifying(dovecot, mail_user):
    settings = imap_settings(dovecot, *mail_user, security="ssl", ssl_verify=True)
    with pytest.raises(TlsError) as info:
        test_connection(settings)
    assert "certificate" in info.value.user_message
    # Trusting the server's own certificate makes verification succeed.
    trusted = imap_settings(
        dovecot, *mail_user, security="ssl", ssl_verify=True, ca_file=str(dovecot.cert_path)
    )
    assert test_connection(trusted)["protocol"] == "imap"


def test_wrong_password(dovecot, mail_user):
    login, _ = mail_user
    with pytest.raises(AuthenticationFailed) as info:
        test_connection(imap_settings(dovecot, login, "wrong"))
    assert not isinstance(info.value, AppPasswordRequired)
    assert "password" in info.value.user_message


def test_closed_port_is_host_unreachable(dovecot, mail_user):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = MailboxSettings("imap", "127.0.0.1", port, "none", *mail_user, timeout=5)
    with pytest.raises(HostUnreachable) as info:
        test_connection(settings)
    assert str(port) in info.value.user_message


def test_unknown_host_is_host_unreachable(mail_user):
    settings = MailboxSettings("imap", "no-such-host.invalid", 993, "ssl", *mail_user, timeout=5)
    with pytest.raises(HostUnreachable):
        test_connection(settings)


def test_provider_aware_auth_messages():
    from imapclient.exceptions import LoginError

    gmail = MailboxSettings("imap", "imap.gmail.com", 993, "ssl", "x@gmail.com", "p")
    err = map_error(LoginError("[ALERT] Application-specific password required: ..."), gmail)
    assert isinstance(err, AppPasswordRequired) and "app password" in err.user_message
    ms = MailboxSettings("imap", "outlook.office365.com", 993, "ssl", "x@corp.com", "p")
    err = map_error(LoginError("AUTHENTICATE failed."), ms)
    assert isinstance(err, AppPasswordRequired) and "Microsoft" in err.user_message
    assert err.code == "oauth_required"
    other = MailboxSettings("imap", "mail.example.com", 993, "ssl", "x", "p")
    err = map_error(LoginError("AUTHENTICATE failed."), other)
    assert type(err) is AuthenticationFailed


def test_special_use_sent_found_when_renamed(dovecot):
    login, password = f"de{uuid.uuid4().hex[:8]}", "pw"
    dovecot.add_user(login, password, folders=("Gesendete Objekte", "Trash"))
    with open_session(imap_settings(dovecot, login, password)) as session:
        refs = session.list_sync_folders()
    assert [(r.name, r.role) for r in refs] == [("INBOX", "inbox"), ("Gesendete Objekte", "sent")]


def test_no_sent_folder(dovecot):
    login, password = f"nosent{uuid.uuid4().hex[:8]}", "pw"
    dovecot.add_user(login, password, folders=("Trash",))
    with open_session(imap_settings(dovecot, login, password)) as session:
        assert [r.role for r in session.list_sync_folders()] == ["inbox"]


def test_fetch_peek_keeps_unseen_and_set_seen(dovecot, mail_user, imap_cfg):
    dovecot.append_messages(*mail_user, "INBOX", [_msg(i) for i in range(5)])
    with open_session(imap_cfg) as session:
        status = session.folder_status("INBOX")
        assert status.exists == 5 and status.highestmodseq
        uids = session.search_uids("INBOX")
        fetched = session.fetch_messages("INBOX", uids, max_size=10_000_000, batch_size=2)
        assert [f.uid for f in fetched] == uids
        assert all(f.raw and b"Subject: msg" in f.raw for f in fetched)
        assert all("\\Seen" not in f.flags for f in fetched)
    with open_session(imap_cfg) as session:
        flags = session.fetch_flags("INBOX")
        assert all("\\Seen" not in f for f in flags.values())
        session.set_seen("INBOX", uids[:2], True)
        assert "\\Seen" in session.fetch_flags("INBOX", uids[:1])[uids[0]]
        session.set_seen("INBOX", uids[:1], False)
        flags = session.fetch_flags("INBOX")
        assert "\\Seen" not in flags[uids[0]] and "\\Seen" in flags[uids[1]]


def test_oversize_not_downloaded(dovecot, mail_user, imap_cfg):
    big = _msg(1, attachments=[("big.bin", "application/octet-stream", b"x" * 50_000)])
    dovecot.append_messages(*mail_user, "INBOX", [_msg(0), big])
    with open_session(imap_cfg) as session:
        fetched = session.fetch_messages("INBOX", session.search_uids("INBOX"), max_size=20_000)
    assert fetched[0].raw is not None and fetched[1].raw is None and fetched[1].size > 50_000


def test_quiet_imaplib_fetches_what_imapclient_fetches(dovecot, mail_user, imap_cfg, monkeypatch):
    """QUIET_IMAPLIB only mutes imaplib's debug formatting: the reference (off) fetches the same."""
    corpus = sample_corpus(80, ["ann@client.org"], ["x@other.net"], seed=5)
    dovecot.append_messages(*mail_user, "INBOX", corpus)
    limit = sorted(map(len, corpus))[60]  # some messages over the size limit too
    fetched = {}
    for quiet in (False, True):
        monkeypatch.setattr(mailbox_client, "QUIET_IMAPLIB", quiet)
        with open_session(imap_cfg) as session:
            level = session.client._imap.debug
            uids = session.search_uids("INBOX")
            fetched[quiet] = (
                session.fetch_messages("INBOX", uids, max_size=limit, batch_size=25),
                session.fetch_flags("INBOX", uids),
            )
            assert session.client._imap.debug == level  # restored after the fetch
    assert fetched[True] == fetched[False]
    messages = fetched[True][0]
    assert [m.raw for m in messages] == [raw if len(raw) <= limit else None for raw in corpus]


def test_search_since_and_min_uid(dovecot, mail_user, imap_cfg):
    dovecot.append_messages(*mail_user, "INBOX", [_msg(1)], when=datetime(2020, 1, 1))
    dovecot.append_messages(*mail_user, "INBOX", [_msg(2), _msg(3)])
    with open_session(imap_cfg) as session:
        all_uids = session.search_uids("INBOX")
        assert len(all_uids) == 3
        assert session.search_uids("INBOX", since=date(2023, 1, 1)) == all_uids[1:]
        assert session.search_uids("INBOX", min_uid=all_uids[-1] + 1) == []
        assert session.search_uids("INBOX", min_uid=all_uids[1]) == all_uids[1:]


def test_append_returns_uid(imap_cfg):
    with open_session(imap_cfg) as session:
        uid = session.append("Sent", _msg(7), seen=True)
        assert isinstance(uid, int)
        assert b"<m7@t>" in session.fetch_messages("Sent", [uid])[0].raw
        assert "\\Seen" in session.fetch_flags("Sent", [uid])[uid]


def test_pop3_session_never_deletes(dovecot, mail_user):
    dovecot.append_messages(*mail_user, "INBOX", [_msg(1), _msg(2)])
    for security in ("none", "ssl", "starttls"):
        settings = pop3_settings(dovecot, *mail_user, security=security)
        info = test_connection(settings)
        assert info["protocol"] == "pop3" and info["message_count"] == 2
        with open_session(settings) as session:
            uidls = session.list_uidl()
            assert len(uidls) == 2
            raw = session.retrieve(min(uidls.values()))
            assert b"Subject: msg 1" in raw
    with pytest.raises(AuthenticationFailed):
        test_connection(pop3_settings(dovecot, mail_user[0], "nope"))
