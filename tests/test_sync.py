"""The sync driver over a real Dovecot with an in-memory store."""

from __future__ import annotations

import inspect
from dataclasses import replace
from datetime import date, datetime

import pytest

from crm_mail_channel_core.errors import ServerError
from crm_mail_channel_core.mailbox_client import open_session
from crm_mail_channel_core.sync import (
    FolderState,
    Pop3Store,
    SyncOptions,
    SyncStore,
    import_uids,
    run_imap_sync,
    run_pop3_sync,
)
from crm_mail_channel_testing.samples import make_message, sample_corpus
from tests.conftest import pop3_settings


class FakeStore(SyncStore):
    """In-memory SyncStore: emails deduplicated by Message-ID, presence per (folder, uid)."""

    def __init__(self) -> None:
        self.states: dict[str, FolderState] = {}
        self.emails: dict[str, object] = {}  # message_id -> ParsedMessage
        self.presence: dict[tuple[str, int, int], str] = {}  # (role, uidvalidity, uid) -> mid
        self.flags: dict[str, tuple] = {}  # message_id -> flags
        self.quarantine: dict[tuple[str, int, int], str] = {}
        self.batches = 0
        self.after_batch = None  # callback(store) to inject failures between batches

    def folder_state(self, role, name):
        state = self.states.get(role)
        return replace(state) if state else None

    def store_batch(self, folder, messages, failures, new_state):
        for message in messages:
            key = (folder.role, folder.uidvalidity, message.uid)
            if key in self.presence:
                continue  # idempotent
            self.emails.setdefault(message.parsed.message_id, message.parsed)
            self.presence[key] = message.parsed.message_id
            self.flags[message.parsed.message_id] = message.flags
        for failure in failures:
            self.quarantine[(folder.role, folder.uidvalidity, failure.key)] = failure.reason
        if new_state is not None:
            self.states[folder.role] = replace(new_state)
        self.batches += 1
        if self.after_batch:
            self.after_batch(self)

    def uidvalidity_changed(self, folder, new_uidvalidity):
        self.presence = {k: v for k, v in self.presence.items() if k[0] != folder.role}
        self.states.pop(folder.role, None)

    def apply_flags(self, folder, flags, new_state):
        for uid, value in flags.items():
            mid = self.presence.get((folder.role, folder.uidvalidity, uid))
            if mid:
                self.flags[mid] = value
        self.states[folder.role] = replace(new_state)

    def known_uids(self, folder):
        return {k[2] for k in self.presence if k[0] == folder.role and k[1] == folder.uidvalidity}


def _corpus(n, seed=1, start=datetime(2024, 1, 1)):
    return sample_corpus(n, ["ann@client.org"], ["x@other.net"], seed=seed, start=start)


def _sync(dovecot, user, store, **opts):
    options = SyncOptions(**{"batch_size": 50, **opts})
    with open_session(_settings(dovecot, user)) as session:
        return run_imap_sync(session, store, options)


def _settings(dovecot, user):
    from tests.conftest import imap_settings

    return imap_settings(dovecot, *user)


def test_initial_window_then_incremental(dovecot, mail_user):
    old = make_message("a@x.com", "me@y.com", "old", "old", message_id="<old@t>")
    dovecot.append_messages(*mail_user, "INBOX", [old], when=datetime(2019, 6, 1))
    dovecot.append_messages(*mail_user, "INBOX", _corpus(120))
    dovecot.append_messages(*mail_user, "Sent", _corpus(30, seed=2), flags=["\\Seen"])
    store = FakeStore()
    report = _sync(dovecot, mail_user, store, since=date(2023, 1, 1))
    assert report.finished and report.imported == 150 and report.quarantined == 0
    assert "<old@t>" not in store.emails
    assert report.folders["Sent"].role == "sent"
    assert store.batches == 3 + 1  # 120 in batches of 50, plus 30
    # Incremental: only new mail, the old message stays outside the window.
    dovecot.append_messages(*mail_user, "INBOX", _corpus(5, seed=3))
    report = _sync(dovecot, mail_user, store, since=date(2023, 1, 1))
    assert report.imported == 5 and len(store.emails) == 155
    assert _sync(dovecot, mail_user, store).imported == 0


def test_flag_changes_via_condstore(dovecot, mail_user):
    dovecot.append_messages(*mail_user, "INBOX", _corpus(10))
    store = FakeStore()
    _sync(dovecot, mail_user, store)
    assert store.states["inbox"].highest_modseq
    with open_session(_settings(dovecot, mail_user)) as session:
        uids = session.search_uids("INBOX")
        session.set_seen("INBOX", uids[:3], True)
    report = _sync(dovecot, mail_user, store)
    assert report.flag_updates == 3 and report.imported == 0
    seen = [mid for mid, f in store.flags.items() if "\\Seen" in f]
    assert len(seen) == 3
    with open_session(_settings(dovecot, mail_user)) as session:
        session.set_seen("INBOX", uids[:1], False)
    assert _sync(dovecot, mail_user, store).flag_updates == 1
    assert len([f for f in store.flags.values() if "\\Seen" in f]) == 2


def test_flags_fallback_without_condstore(dovecot, mail_user):
    dovecot.append_messages(*mail_user, "INBOX", _corpus(6))
    store = FakeStore()
    _sync(dovecot, mail_user, store)
    with open_session(_settings(dovecot, mail_user)) as session:
        session.set_seen("INBOX", session.search_uids("INBOX")[-2:], True)
        session.capabilities = tuple(
            c for c in session.capabilities if c not in ("CONDSTORE", "QRESYNC")
        )
        report = run_imap_sync(session, store, SyncOptions(flag_fallback_window=100))
    assert report.flag_updates == 6
    assert len([f for f in store.flags.values() if "\\Seen" in f]) == 2


def test_bad_and_oversize_messages_quarantined_rest_imported(dovecot, mail_user):
    good = _corpus(4)
    garbage = b"this is not an email at all\r\n"
    huge = make_message(
        "a@x.com",
        "me@y.com",
        "huge",
        "x",
        attachments=[("big.bin", "application/octet-stream", b"0" * 300_000)],
    )
    dovecot.append_messages(*mail_user, "INBOX", [good[0], garbage, good[1], huge, *good[2:]])
    store = FakeStore()
    report = _sync(dovecot, mail_user, store, max_message_size=350_000, batch_size=2)
    assert report.imported == 4 and report.quarantined == 2
    reasons = sorted(store.quarantine.values())
    assert reasons[0].startswith("message too large") and reasons[1].startswith("unreadable")
    # The cursor moved over every handled message: nothing is retried or lost.
    with open_session(_settings(dovecot, mail_user)) as session:
        assert store.states["inbox"].last_uid == max(session.search_uids("INBOX"))
    assert _sync(dovecot, mail_user, store).imported == 0


def test_uidvalidity_change_gives_no_duplicates(dovecot, mail_user):
    dovecot.append_messages(*mail_user, "Sent", _corpus(20))
    store = FakeStore()
    _sync(dovecot, mail_user, store)
    old_validity = store.states["sent"].uidvalidity
    dovecot.recreate_folder(*mail_user, "Sent")
    dovecot.set_uidvalidity(mail_user[0], "INBOX")
    report = _sync(dovecot, mail_user, store)
    assert store.states["sent"].uidvalidity != old_validity
    assert report.imported == 20  # re-keyed by the store ...
    assert len(store.emails) == 20  # ... but no duplicate emails
    assert len([k for k in store.presence if k[0] == "sent"]) == 20


@pytest.mark.parametrize("prefetch", [False, True])
def test_dropped_connection_then_resume_exactly_once(dovecot, mail_user, prefetch):
    corpus = _corpus(200, seed=7)
    dovecot.append_messages(*mail_user, "INBOX", corpus)
    store = FakeStore()

    def kick_after_second(s):
        if s.batches == 2:
            dovecot.kick_user(mail_user[0])

    store.after_batch = kick_after_second
    with pytest.raises(ServerError):
        _sync(dovecot, mail_user, store, batch_size=40, prefetch=prefetch)
    # With prefetch the third batch may have been fetched before the kick: it is stored too.
    stored = len(store.emails)
    assert stored == 80 if not prefetch else stored in (80, 120)
    assert store.states["inbox"].last_uid > 0 and len(store.presence) == stored
    store.after_batch = None
    report = _sync(dovecot, mail_user, store, batch_size=40, prefetch=prefetch)
    assert report.imported == 200 - stored
    assert len(store.emails) == 200 and len(store.presence) == 200


def test_time_budget_leaves_backlog(dovecot, mail_user):
    dovecot.append_messages(*mail_user, "INBOX", _corpus(30))
    store = FakeStore()
    report = _sync(dovecot, mail_user, store, batch_size=10, max_seconds=0)
    assert not report.finished and report.backlog == 30 and report.imported == 0
    report = _sync(dovecot, mail_user, store, batch_size=10)
    assert report.finished and report.imported == 30


class FakePop3Store(Pop3Store):
    def __init__(self):
        self.by_uidl = {}
        self.failures = {}
        self.skipped = set()

    def seen_uidls(self):
        return set(self.by_uidl) | set(self.failures) | self.skipped

    def skip_uidls(self, uidls):
        self.skipped.update(uidls)

    def store_batch_pop3(self, messages, failures):
        for message in messages:
            assert message.uidl not in self.by_uidl
            self.by_uidl[message.uidl] = message.parsed
        self.failures.update({failure.key: failure.reason for failure in failures})


def test_pop3_sync_by_uidl_never_duplicates_never_deletes(dovecot, mail_user):
    dovecot.append_messages(*mail_user, "INBOX", [*_corpus(15), b"garbage without headers\r\n"])
    store = FakePop3Store()
    settings = pop3_settings(dovecot, *mail_user)
    with open_session(settings) as session:
        report = run_pop3_sync(session, store, SyncOptions(batch_size=4))
    assert report.imported == 15 and report.quarantined == 1
    with open_session(settings) as session:
        assert run_pop3_sync(session, store, SyncOptions()).imported == 0
    dovecot.append_messages(*mail_user, "INBOX", _corpus(3, seed=9))
    with open_session(settings) as session:
        assert run_pop3_sync(session, store, SyncOptions()).imported == 3
        assert session.stat()[0] == 19  # nothing deleted


def test_pop3_first_sync_window_skips_old_mail(dovecot, mail_user):
    old = make_message("a@x.com", "me@y.com", "old", "old", datetime(2019, 6, 1))
    dovecot.append_messages(*mail_user, "INBOX", [old, *_corpus(3)])
    store = FakePop3Store()
    settings = pop3_settings(dovecot, *mail_user)
    with open_session(settings) as session:
        report = run_pop3_sync(session, store, SyncOptions(since=date(2023, 1, 1)))
    assert report.imported == 3 and len(store.skipped) == 1
    with open_session(settings) as session:
        assert run_pop3_sync(session, store, SyncOptions(since=date(2023, 1, 1))).imported == 0


def test_import_uids_stores_again_without_moving_the_cursor(dovecot, mail_user):
    dovecot.append_messages(*mail_user, "INBOX", _corpus(5))
    store = FakeStore()
    _sync(dovecot, mail_user, store)
    state = store.folder_state("inbox", "INBOX")
    store.presence.clear()
    with open_session(_settings(dovecot, mail_user)) as session:
        uids = session.search_uids("INBOX")
        missing = import_uids(session, store, state, [*uids[:2], 9999], SyncOptions())
    assert missing == {9999}
    assert sorted(key[2] for key in store.presence) == uids[:2]
    assert store.folder_state("inbox", "INBOX") == state


# ---- the store contract ----------------------------------------------------------------------
def protocol_mismatches(protocol, cls):
    """Members of ``protocol`` that ``cls`` does not define, or defines with other parameters."""
    problems = []
    for name, member in vars(protocol).items():
        if name.startswith("_") or not inspect.isfunction(member):
            continue
        impl = inspect.getattr_static(cls, name, None)
        if impl is None or impl is member:
            problems.append(f"{name} is missing")
        elif list(inspect.signature(impl).parameters) != list(inspect.signature(member).parameters):
            problems.append(f"{name}{inspect.signature(impl)} != {inspect.signature(member)}")
    return problems


def test_fake_stores_implement_the_whole_protocols():
    assert protocol_mismatches(SyncStore, FakeStore) == []
    assert protocol_mismatches(Pop3Store, FakePop3Store) == []
    assert isinstance(FakeStore(), SyncStore) and isinstance(FakePop3Store(), Pop3Store)
    # The check itself sees a missing member and a changed signature.
    assert protocol_mismatches(Pop3Store, type("NoSkip", (Pop3Store,), {})) != []
    changed = type("Changed", (), {"skip_uidls": lambda self, uidl, extra: None})
    assert any("skip_uidls" in p for p in protocol_mismatches(Pop3Store, changed))
