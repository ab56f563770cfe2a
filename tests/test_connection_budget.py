"""One connection budget per mail account: slots on a real PostgreSQL, connections to the real
Dovecot, and the push watcher waiting for a slot."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid

import psycopg2
import pytest

from crm_mail_channel_core import connection_budget as cb
from crm_mail_channel_core import push
from crm_mail_channel_core.mailbox_client import open_session
from crm_mail_channel_core.push_budget import PushSlots, mailbox_account
from tests.conftest import PG, imap_settings, scratch_database
from tests.test_push import FakeBackend, fast_config, until

GUARD_SECONDS = 30  # a guard against hanging, not a latency assertion


def connect(dbname="postgres"):
    conn = psycopg2.connect(dbname=dbname, **PG)
    conn.autocommit = True
    return conn


def account():
    """An account of its own per test: nothing else on the cluster holds its slots."""
    return cb.account_key("imap.example.test", f"user-{uuid.uuid4().hex[:8]}@example.test")


@pytest.fixture
def conns():
    opened = []

    def make(dbname="postgres"):
        conn = connect(dbname)
        opened.append(conn)
        return conn

    yield make
    for conn in opened:
        conn.close()


def used(conn, key, budget):
    with conn.cursor() as cr:
        return cb.in_use(cr, {key: budget})[key]


# ---- account and budget -----------------------------------------------------------------------
def test_account_keys_fold_case_and_spaces():
    assert cb.account_key("IMAP.Gmail.com.", " Joe@Example.COM ") == cb.account_key(
        "imap.gmail.com", "joe@example.com"
    )
    assert cb.account_key("imap.gmail.com", "joe@example.com") != cb.account_key(
        "imap.gmail.com", "ann@example.com"
    )
    # German sharp s folds like str.casefold: the key follows the login as typed either way.
    assert cb.account_key("h", "STRASSE") == cb.account_key("h", "straße")


def test_budget_per_provider_and_override():
    assert cb.budget_for("imap.gmail.com") == 5
    assert cb.budget_for("Outlook.Office365.com") == 5
    assert cb.budget_for("mail.small-host.example") == cb.DEFAULT_BUDGET == 3
    assert cb.budget_for("mail.small-host.example", "4") == 4
    override = "imap.gmail.com=8; 2, nonsense"
    assert cb.budget_for("IMAP.GMAIL.COM", override) == 8
    assert cb.budget_for("mail.small-host.example", override) == 2
    assert cb.budget_for("x", "0") == 1  # never no connection at all
    assert cb.idle_budget(2) == 1 and cb.idle_budget(1) == 0


def test_slot_keys_are_distinct_and_fit_a_bigint():
    key = account()
    keys = {cb.slot_key(key, slot) for slot in range(cb.MAX_SLOTS)}
    keys.add(cb.slot_key(key, 0, cb.SYNC_NAMESPACE))
    assert len(keys) == cb.MAX_SLOTS + 1
    assert all(0 < k < 2**63 for k in keys)


# ---- slots on PostgreSQL ------------------------------------------------------------------------
def test_slots_are_shared_across_connections(conns):
    key, budget = account(), 2
    a, b = conns(), conns()
    with a.cursor() as cra, b.cursor() as crb:
        assert cb.try_take(cra, key, budget) == 0
        # One session never gets a slot it holds again (advisory locks nest in a session).
        assert cb.try_take(cra, key, budget) == 1
        assert cb.try_take(cra, key, budget) is None
        assert cb.try_take(crb, key, budget) is None
        assert used(b, key, budget) == 2
        cb.release(cra, key, 0)
        assert cb.try_take(crb, key, budget) == 0
        assert used(a, key, budget) == 2
        cb.release(cra, key, 0)  # not held by this session any more: nothing happens
        assert used(a, key, budget) == 2


def test_hold_gives_the_slot_back_whatever_happens(conns):
    key = account()
    a, b = conns(), conns()
    with a.cursor() as cra, b.cursor() as crb:
        with pytest.raises(RuntimeError), cb.hold(cra, key, 1) as slot:
            assert slot == 0
            with cb.hold(crb, key, 1) as other:
                assert other is None
            raise RuntimeError("the IMAP work failed")
        with cb.hold(crb, key, 1) as slot:
            assert slot == 0
    assert used(a, key, 1) == 0


def test_slot_of_a_closed_connection_is_free(conns):
    key = account()
    a, b = connect(), conns()
    with a.cursor() as cra:
        assert cb.try_take(cra, key, 1) == 0
    with b.cursor() as crb:
        assert cb.try_take(crb, key, 1) is None
        a.close()
        assert cb.try_take(crb, key, 1) == 0


def test_slot_of_a_killed_process_is_free(conns):
    key = account()
    code = (
        "import psycopg2, sys, time\n"
        "from crm_mail_channel_core import connection_budget as cb\n"
        f"conn = psycopg2.connect(dbname='postgres', host={PG['host']!r}, user={PG['user']!r})\n"
        "conn.autocommit = True\n"
        f"print(cb.try_take(conn.cursor(), {key!r}, 1), flush=True)\n"
        "time.sleep(600)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "0"
        b = conns()
        with b.cursor() as crb:
            assert cb.try_take(crb, key, 1) is None
            child.kill()  # no goodbye: the database sees the connection drop
            child.wait(GUARD_SECONDS)
            deadline = time.monotonic() + GUARD_SECONDS
            while (slot := cb.try_take(crb, key, 1)) is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert slot == 0
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def test_one_sync_per_account(conns):
    key = account()
    a, b = conns(), conns()
    with a.cursor() as cra, b.cursor() as crb:
        with cb.sync_lock(cra, key) as mine:
            assert mine
            with cb.sync_lock(crb, key) as theirs:
                assert not theirs
            # The sync lock is not a connection slot.
            assert cb.try_take(crb, key, 1) == 0
        with cb.sync_lock(crb, key) as theirs:
            assert theirs


def test_a_failed_transaction_gives_the_slot_back_after_its_rollback(conns):
    """Odoo cursors have post-rollback hooks: the slot is freed right after the rollback."""

    class Hooks(list):
        def add(self, func):
            self.append(func)

    class OdooLikeCursor:
        def __init__(self, conn):
            self.connection = conn
            self._cr = conn.cursor()
            self.postrollback, self.postcommit = Hooks(), Hooks()

        def execute(self, query, params=None):
            self._cr.execute(query, params)

        def fetchone(self):
            return self._cr.fetchone()

        def rollback(self):
            self.connection.rollback()
            for func in self.postrollback:
                func()

    key = account()
    a = psycopg2.connect(dbname="postgres", **PG)  # in a transaction, as Odoo's
    b = conns()
    cr = OdooLikeCursor(a)
    try:
        with pytest.raises(psycopg2.Error), cb.hold(cr, key, 1):
            cr.execute("SELECT 1 / 0")
        assert used(b, key, 1) == 1  # the failed transaction can run nothing now
        cr.rollback()
        assert used(b, key, 1) == 0
    finally:
        a.close()


# ---- with the real Dovecot ----------------------------------------------------------------------
def test_two_mailboxes_on_one_account_share_its_connections(dovecot, mail_user, conns):
    """Two Odoo mailboxes (two connections to the database) typed with different cases of one
    login: at most ``budget`` IMAP connections reach the server."""
    login, password = mail_user
    first = cb.account_key(dovecot.host, login.upper())
    second = cb.account_key(f" {dovecot.host.upper()} ", login)
    assert first == second
    settings = imap_settings(dovecot, login, password)
    a, b = conns(), conns()
    cra, crb = a.cursor(), b.cursor()
    with cb.hold(cra, first, 2) as slot_a, open_session(settings):
        assert slot_a == 0
        with cb.hold(crb, second, 2) as slot_b, open_session(settings):
            assert slot_b == 1
            assert dovecot.connection_count(login) == 2
            with cb.hold(cra, first, 2) as third:
                assert third is None  # so no third connection is opened
            assert dovecot.connection_count(login) == 2
        with cb.hold(crb, second, 2) as slot_b:
            assert slot_b == 1
    assert used(a, first, 2) == 0


# ---- push: IDLE watchers take a slot ------------------------------------------------------------
@pytest.fixture
def budget_db():
    ddl = (
        "CREATE TABLE crm_mailbox (id integer PRIMARY KEY, host varchar, login varchar);"
        "CREATE TABLE ir_config_parameter (key varchar PRIMARY KEY, value text);"
    )
    with scratch_database("cmc_budget_l1", ddl) as name:
        yield name


class SlotBackend(FakeBackend):
    """The fake push backend with the real slots (push_budget) on one database connection."""

    def __init__(self, targets, dbname):
        super().__init__(targets)
        self.conn = connect(dbname)
        self.slots = PushSlots()

    def take_slot(self, mailbox_id):
        with self.conn.cursor() as cr:
            return self.slots.take(cr, mailbox_id)

    def release_slot(self, mailbox_id):
        with self.conn.cursor() as cr:
            self.slots.release(cr, mailbox_id)


def test_push_waits_for_a_free_connection(dovecot, mail_user, budget_db, conns):
    login, password = mail_user
    db = conns(budget_db)
    with db.cursor() as cr:
        cr.execute("INSERT INTO crm_mailbox VALUES (1, %s, %s)", (dovecot.host, login))
        cr.execute("INSERT INTO ir_config_parameter VALUES (%s, '2')", (cb.PARAMETER,))
        key, budget = mailbox_account(cr, 1)
    assert (key, budget) == (cb.account_key(dovecot.host, login), 2)
    backend = SlotBackend({1: ("v1", imap_settings(dovecot, login, password))}, budget_db)
    sync = db.cursor()
    assert cb.try_take(sync, key, budget) == 0  # a sync holds the slot IDLE may take

    async def scenario():
        service = push.PushService(backend, fast_config(slot_wait_seconds=0.2))
        stop = asyncio.Event()
        task = asyncio.ensure_future(service.run(stop))
        try:
            await until(lambda: backend.statuses.get(1, ("",))[0] == push.WAITING, "waiting")
            assert dovecot.connection_count(login) == 0
            cb.release(sync, key, 0)
            await until(lambda: backend.statuses[1][0] == push.WATCHING, "watching")
            assert dovecot.connection_count(login) == 1
            # IDLE never takes the last slot: the sync it wakes gets it.
            assert cb.try_take(sync, key, budget) == 1
            assert used(db, key, budget) == 2
            cb.release(sync, key, 1)
        finally:
            stop.set()
            await asyncio.wait_for(task, GUARD_SECONDS)

    try:
        asyncio.run(scenario())
        assert used(db, key, budget) == 0  # the stopped watcher gave its slot back
    finally:
        backend.conn.close()


def test_push_slots_lost_with_their_database_connection(budget_db, conns):
    db = conns(budget_db)
    with db.cursor() as cr:
        cr.execute("INSERT INTO crm_mailbox VALUES (7, 'imap.example.test', 'joe')")
    slots = PushSlots()
    first = connect(budget_db)
    with first.cursor() as cr:
        assert slots.take(cr, 7)
        assert slots.take(cr, 7)  # held already: not a second slot
    key = cb.account_key("imap.example.test", "joe")
    assert used(db, key, 3) == 1
    first.close()
    second = conns(budget_db)
    with second.cursor() as cr:
        # Its watcher must stop and take a slot again before reconnecting.
        assert slots.without_lost(cr, {7: "v", 8: "w"}) == {8: "w"}
        assert slots.held == {}
