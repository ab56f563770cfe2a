"""First sync newest first, with a backfill cursor beside the new-mail cursor (real Dovecot)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from crm_mail_channel_core.errors import ServerError
from crm_mail_channel_core.mailbox_client import open_session
from crm_mail_channel_core.sync import SyncOptions, run_imap_sync
from crm_mail_channel_testing.samples import make_message
from tests.test_sync import FakeStore, _corpus, _settings


class Interrupted(Exception):
    """The worker died while storing a batch (its transaction rolled back)."""


class RecordingStore(FakeStore):
    """FakeStore that remembers the UIDs of each stored batch and can fail before one."""

    def __init__(self) -> None:
        super().__init__()
        self.stored: list[tuple[str, list[int]]] = []  # (role, uids) per non-empty batch
        self.fail_before: int | None = None  # raise instead of storing this batch (1-based)

    def store_batch(self, folder, messages, failures, new_state):
        uids = sorted([m.uid for m in messages] + [f.key for f in failures])
        if uids and self.fail_before is not None and len(self.stored) + 1 == self.fail_before:
            self.fail_before = None
            raise Interrupted
        if uids:
            self.stored.append((folder.role, uids))
        super().store_batch(folder, messages, failures, new_state)

    def inbox_uids(self) -> list[int]:
        return sorted(k[2] for k in self.presence if k[0] == "inbox")


def _sync(dovecot, user, store, **opts):
    options = SyncOptions(**{"batch_size": 10, **opts})
    with open_session(_settings(dovecot, user)) as session:
        return run_imap_sync(session, store, options)


def _server_uids(dovecot, user, folder="INBOX"):
    with open_session(_settings(dovecot, user)) as session:
        return session.search_uids(folder)


def _stop_after(batches):
    def stop(store):
        if store.batches == batches:
            raise Interrupted

    return stop


def test_first_sync_runs_newest_first_with_progress(dovecot, mail_user):
    dovecot.append_messages(*mail_user, "INBOX", _corpus(25))
    store = RecordingStore()
    seen = []
    with open_session(_settings(dovecot, mail_user)) as session:
        report = run_imap_sync(
            session,
            store,
            SyncOptions(batch_size=10),
            progress=lambda name, done, total: seen.append((name, done, total)),
        )
    uids = _server_uids(dovecot, mail_user)
    assert report.finished and report.imported == 25 and report.backfill_remaining == 0
    assert [batch for _role, batch in store.stored] == [uids[15:], uids[5:15], uids[:5]]
    assert seen == [("INBOX", 10, 25), ("INBOX", 20, 25), ("INBOX", 25, 25)]
    state = store.states["inbox"]
    assert (state.last_uid, state.backfill_below) == (uids[-1], 0)
    assert (state.backfill_done, state.backfill_total) == (25, 25)


def test_oldest_first_when_asked(dovecot, mail_user):
    dovecot.append_messages(*mail_user, "INBOX", _corpus(25))
    store = RecordingStore()
    report = _sync(dovecot, mail_user, store, newest_first=False)
    uids = _server_uids(dovecot, mail_user)
    assert report.imported == 25
    assert [batch for _role, batch in store.stored] == [uids[:10], uids[10:20], uids[20:]]
    assert store.states["inbox"].backfill_below == 0 and store.states["inbox"].backfill_total == 0


def test_new_mail_arriving_during_the_backfill_comes_first(dovecot, mail_user):
    dovecot.append_messages(*mail_user, "INBOX", _corpus(30))
    store = RecordingStore()
    store.after_batch = _stop_after(1)  # the worker stops once the first batch is committed
    with pytest.raises(Interrupted):
        _sync(dovecot, mail_user, store)
    old = _server_uids(dovecot, mail_user)
    state = store.states["inbox"]
    assert (state.last_uid, state.backfill_below) == (old[-1], old[20])
    assert (state.backfill_done, state.backfill_total) == (10, 30)

    dovecot.append_messages(*mail_user, "INBOX", _corpus(5, seed=4, start=datetime(2025, 1, 1)))
    new = _server_uids(dovecot, mail_user)[30:]
    store.after_batch = None
    store.stored.clear()
    report = _sync(dovecot, mail_user, store)
    assert [batch for _role, batch in store.stored] == [new, old[10:20], old[:10]]
    assert report.finished and report.imported == 25
    assert store.inbox_uids() == old + new and len(store.emails) == 35
    state = store.states["inbox"]
    assert (state.last_uid, state.backfill_below) == (new[-1], 0)
    assert (state.backfill_done, state.backfill_total) == (30, 30)


def test_new_mail_of_every_folder_comes_before_any_backfill(dovecot, mail_user):
    dovecot.append_messages(*mail_user, "Sent", _corpus(4, seed=12))
    store = RecordingStore()
    _sync(dovecot, mail_user, store)  # Sent done, INBOX empty
    dovecot.append_messages(*mail_user, "INBOX", _corpus(30, seed=13))
    store.after_batch = _stop_after(store.batches + 1)
    with pytest.raises(Interrupted):
        _sync(dovecot, mail_user, store)  # INBOX: first backfill batch only
    dovecot.append_messages(*mail_user, "Sent", _corpus(2, seed=14, start=datetime(2025, 1, 1)))
    store.after_batch = None
    store.stored.clear()
    report = _sync(dovecot, mail_user, store)
    inbox = _server_uids(dovecot, mail_user)
    sent = _server_uids(dovecot, mail_user, "Sent")
    assert store.stored == [("sent", sent[4:]), ("inbox", inbox[10:20]), ("inbox", inbox[:10])]
    assert report.finished and report.imported == 22


def test_time_budget_stops_the_backfill_after_new_mail(dovecot, mail_user):
    dovecot.append_messages(*mail_user, "INBOX", _corpus(20))
    store = RecordingStore()
    report = _sync(dovecot, mail_user, store, max_seconds=0)
    # Nothing imported, but the backfill is set up: its size is known, new mail goes above it.
    assert report.imported == 0 and not report.finished
    assert report.backlog == report.backfill_remaining == 20
    assert store.states["inbox"].backfill_total == 20
    report = _sync(dovecot, mail_user, store)
    assert report.finished and report.imported == 20 and report.backlog == 0
    assert store.inbox_uids() == _server_uids(dovecot, mail_user)


def test_store_failure_mid_backfill_then_resume_exactly_once(dovecot, mail_user):
    dovecot.append_messages(*mail_user, "INBOX", _corpus(35, seed=5))
    store = RecordingStore()
    store.fail_before = 3  # the third batch fails before anything of it is stored
    with pytest.raises(Interrupted):
        _sync(dovecot, mail_user, store)
    uids = _server_uids(dovecot, mail_user)
    assert store.inbox_uids() == uids[15:]
    assert store.states["inbox"].backfill_below == uids[15]
    report = _sync(dovecot, mail_user, store)
    assert report.imported == 15 and report.finished
    assert store.inbox_uids() == uids and len(store.emails) == 35
    assert [batch for _role, batch in store.stored][-2:] == [uids[5:15], uids[:5]]


@pytest.mark.parametrize("prefetch", [False, True])
def test_dropped_connection_mid_backfill_then_resume(dovecot, mail_user, prefetch):
    dovecot.append_messages(*mail_user, "INBOX", _corpus(60, seed=6))
    store = RecordingStore()

    def kick_after_second(s):
        if s.batches == 2:
            dovecot.kick_user(mail_user[0])

    store.after_batch = kick_after_second
    with pytest.raises(ServerError):
        _sync(dovecot, mail_user, store, prefetch=prefetch)
    stored = len(store.inbox_uids())
    # With prefetch the third batch may have been fetched before the kick: it is stored too.
    assert stored == 20 if not prefetch else stored in (20, 30)
    store.after_batch = None
    report = _sync(dovecot, mail_user, store, prefetch=prefetch)
    assert report.imported == 60 - stored and report.finished
    assert store.inbox_uids() == _server_uids(dovecot, mail_user) and len(store.emails) == 60


def test_paused_backfill_still_takes_new_mail(dovecot, mail_user):
    dovecot.append_messages(*mail_user, "INBOX", _corpus(20))
    store = RecordingStore()
    store.after_batch = _stop_after(1)
    with pytest.raises(Interrupted):
        _sync(dovecot, mail_user, store)
    dovecot.append_messages(*mail_user, "INBOX", _corpus(3, seed=8, start=datetime(2025, 1, 1)))
    store.after_batch = None
    report = _sync(dovecot, mail_user, store, backfill=False)
    assert report.imported == 3 and report.finished and report.backlog == 0
    assert report.backfill_remaining == 10
    assert store.states["inbox"].backfill_done == 10
    report = _sync(dovecot, mail_user, store)
    assert report.imported == 10 and report.backfill_remaining == 0
    assert store.inbox_uids() == _server_uids(dovecot, mail_user)


def test_backfill_keeps_its_window_and_counts_deleted_mail_out(dovecot, mail_user):
    old = make_message("a@x.com", "me@y.com", "old", "old", message_id="<old@backfill>")
    dovecot.append_messages(*mail_user, "INBOX", [old], when=datetime(2019, 6, 1))
    dovecot.append_messages(*mail_user, "INBOX", _corpus(30, seed=9))
    store = RecordingStore()
    store.after_batch = _stop_after(1)
    with pytest.raises(Interrupted):
        _sync(dovecot, mail_user, store, since=date(2023, 1, 1))
    assert store.states["inbox"].backfill_since == date(2023, 1, 1)
    uids = _server_uids(dovecot, mail_user)
    client = dovecot.imap_client(*mail_user)
    try:
        client.select_folder("INBOX")
        client.delete_messages(uids[1:3])  # two not imported yet
        client.expunge()
    finally:
        client.logout()
    store.after_batch = None
    # The resumed backfill keeps the window it started with, whatever the options say now.
    report = _sync(dovecot, mail_user, store, since=None)
    assert "<old@backfill>" not in store.emails
    assert report.imported == 18 and len(store.emails) == 28
    state = store.states["inbox"]
    assert (state.backfill_below, state.backfill_done, state.backfill_total) == (0, 28, 28)


def test_uidvalidity_change_during_backfill_starts_again_without_duplicates(dovecot, mail_user):
    dovecot.append_messages(*mail_user, "Sent", _corpus(25, seed=10))
    store = RecordingStore()
    store.after_batch = _stop_after(1)
    with pytest.raises(Interrupted):
        _sync(dovecot, mail_user, store)
    assert store.states["sent"].backfill_below > 0
    before = store.states["sent"].uidvalidity
    dovecot.recreate_folder(*mail_user, "Sent")
    store.after_batch = None
    store.stored.clear()
    report = _sync(dovecot, mail_user, store)
    state = store.states["sent"]
    assert state.uidvalidity != before and report.finished
    assert report.imported == 25  # every message keyed again ...
    assert len(store.emails) == 25  # ... none twice
    uids = _server_uids(dovecot, mail_user, "Sent")
    assert [batch for _role, batch in store.stored] == [uids[15:], uids[5:15], uids[:5]]
    assert (state.backfill_below, state.backfill_done, state.backfill_total) == (0, 25, 25)


def test_flags_follow_backfilled_mail(dovecot, mail_user):
    dovecot.append_messages(*mail_user, "INBOX", _corpus(20, seed=11))
    store = RecordingStore()
    store.after_batch = _stop_after(1)
    with pytest.raises(Interrupted):
        _sync(dovecot, mail_user, store)
    store.after_batch = None
    uids = _server_uids(dovecot, mail_user)
    with open_session(_settings(dovecot, mail_user)) as session:
        session.set_seen("INBOX", [uids[0], uids[-1]], True)  # one waits in the backfill
    _sync(dovecot, mail_user, store)
    assert len([f for f in store.flags.values() if "\\Seen" in f]) == 2
    # Below the new-mail cursor, imported by the backfill: still followed.
    with open_session(_settings(dovecot, mail_user)) as session:
        session.set_seen("INBOX", [uids[0], uids[1]], True)
    report = _sync(dovecot, mail_user, store)
    assert report.flag_updates >= 1
    assert len([f for f in store.flags.values() if "\\Seen" in f]) == 3
