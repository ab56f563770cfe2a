"""The push service without Odoo in its process: its plain-SQL database side on a real
PostgreSQL (the tables it touches, with the columns it reads), the settings it asks a
separate process for, and the whole service against the real Dovecot."""

from __future__ import annotations

import asyncio
import select
import sys

import psycopg2
import pytest

from crm_mail_channel_core import push, push_lease, push_settings
from crm_mail_channel_core.push_sql import SYNC_CRONS, SqlPushBackend
from tests.conftest import PG, imap_settings, scratch_database
from tests.test_push import GUARD_SECONDS, append, fast_config, running, until

# The columns of Odoo's tables that the push service reads or writes (the addon's models and
# Odoo's ir.cron create them in a real database; the Odoo tests run the same SQL there).
SCHEMA = """
CREATE TABLE crm_mailbox (
    id serial PRIMARY KEY, active boolean DEFAULT true, protocol varchar, state varchar,
    host varchar, port integer, security varchar, ssl_verify boolean, login varchar,
    user_id integer, auth_type varchar, push_synced_at timestamp, throttled_until timestamp);
CREATE TABLE crm_mail_secret (
    id serial PRIMARY KEY, res_model varchar, res_id integer, key varchar,
    fingerprint varchar, value varchar);
CREATE TABLE ir_config_parameter (id serial PRIMARY KEY, key varchar, value text);
CREATE TABLE ir_cron (id serial PRIMARY KEY, active boolean);
CREATE TABLE ir_model_data (
    id serial PRIMARY KEY, module varchar, name varchar, model varchar, res_id integer);
CREATE TABLE ir_cron_trigger (
    id serial PRIMARY KEY, cron_id integer, call_at timestamp, create_uid integer,
    write_uid integer, create_date timestamp, write_date timestamp);
"""


CRONS = "".join(
    f"INSERT INTO ir_cron (id, active) VALUES ({i}, true);"
    f"INSERT INTO ir_model_data (module, name, model, res_id) "
    f"VALUES ('{xmlid.split('.')[0]}', '{xmlid.split('.')[1]}', 'ir.cron', {i});"
    for i, xmlid in enumerate((*SYNC_CRONS, "other.ir_cron_unrelated"), start=1)
)


@pytest.fixture
def push_db():
    with scratch_database(
        "cmc_push_sql", SCHEMA + push_lease.LEASE_TABLE_DDL + ";" + CRONS
    ) as name:
        yield name


def sql(dbname, query, args=()):
    with psycopg2.connect(dbname=dbname, **PG) as conn, conn.cursor() as cr:
        cr.execute(query, args)
        rows = cr.fetchall() if cr.description else None
    conn.close()
    return rows


def add_mailbox(dbname, protocol="imap", state="connected", login="u@example.test"):
    return sql(
        dbname,
        "INSERT INTO crm_mailbox (protocol, state, host, port, security, login, user_id) "
        "VALUES (%s, %s, '127.0.0.1', 143, 'none', %s, 2) RETURNING id",
        (protocol, state, login),
    )[0][0]


class CountingSource:
    def __init__(self, settings_by_id):
        self.settings_by_id = settings_by_id
        self.batches = []

    def __call__(self, mailbox_ids):
        self.batches.append(sorted(mailbox_ids))
        return {i: self.settings_by_id.get(i) for i in mailbox_ids}


def make_backend(dbname, source, holder=None):
    holder = holder or push_lease.make_holder()

    def connect(name):
        return psycopg2.connect(
            dbname=name or dbname, application_name=push_lease.application_name(holder), **PG
        )

    return SqlPushBackend(connect, dbname, holder, 30, push_settings.SettingsCache(source))


# ---- settings over a process boundary ------------------------------------------------------------
def test_settings_answer_round_trip(dovecot, mail_user):
    settings = imap_settings(dovecot, *mail_user, oauth2_token="tok")
    line = push_settings.encode_answer({3: settings, 4: None})
    noisy = "some log line\n" + line + "\n"
    assert push_settings.decode_answer(noisy) == {3: settings, 4: None}
    with pytest.raises(ValueError):
        push_settings.decode_answer("Traceback (most recent call last):\n")


def test_subprocess_source_reads_the_answer_line_and_reports_failures(dovecot, mail_user):
    settings = imap_settings(dovecot, *mail_user)
    script = (
        "import sys, json; ids = json.load(sys.stdin); print('INFO noise on stdout'); "
        f"print({push_settings.encode_answer({7: settings})!r}); "
        "print('warn', file=sys.stderr)"
    )
    source = push_settings.SubprocessSettingsSource([sys.executable, "-c", script])
    assert source([7]) == {7: settings}
    failing = push_settings.SubprocessSettingsSource(
        [
            sys.executable,
            "-c",
            "import sys; print('registry could not load', file=sys.stderr); sys.exit(3)",
        ]
    )
    with pytest.raises(RuntimeError, match="exited with 3: registry could not load"):
        failing([7])


def test_cache_asks_one_batch_and_again_only_when_needed(dovecot, mail_user):
    plain = imap_settings(dovecot, *mail_user)
    oauth = imap_settings(dovecot, *mail_user, oauth2_token="t")
    source = CountingSource({1: plain, 2: oauth, 3: None})
    now = [0.0]
    cache = push_settings.SettingsCache(source, clock=lambda: now[0])
    cache.want({1: "a", 2: "b", 3: "c"})
    assert cache.get(1) == plain and cache.get(2) == oauth and cache.get(3) is None
    assert source.batches == [[1, 2, 3]]  # one run for every leased mailbox
    now[0] = 10 * 60.0  # a missing one is asked again after 5 minutes, with nothing else
    assert cache.get(1) == plain and cache.get(3) is None
    assert source.batches[1:] == [[3]]
    now[0] = 31 * 60.0  # an OAuth token is refreshed for a login after 30 minutes
    cache.get(2)
    assert source.batches[2:] == [[2, 3]]
    cache.want({1: "a2", 2: "b", 3: "c"})  # new password: new settings
    cache.get(1)
    assert source.batches[3:] == [[1]]
    cache.want({2: "b"})  # 1 and 3 paused or taken by another service: forgotten
    assert cache.stale() == []


def test_cache_survives_a_failing_odoo_without_a_storm_of_runs():
    calls = []

    def broken(ids):
        calls.append(ids)
        raise RuntimeError("database is being updated")

    cache = push_settings.SettingsCache(broken)
    cache.want(dict.fromkeys(range(1, 51), "v"))
    assert [cache.get(i) for i in range(1, 51)] == [None] * 50
    assert len(calls) == 1


# ---- the SQL side on a real PostgreSQL --------------------------------------------------------
def test_backend_leases_only_watchable_mailboxes_and_wakes_the_sync_crons(push_db):
    imap = add_mailbox(push_db)
    add_mailbox(push_db, protocol="pop3")
    add_mailbox(push_db, state="needs_reconnect")
    add_mailbox(push_db, state="paused")
    source = CountingSource({})
    backend = make_backend(push_db, source)
    leased = backend.refresh()
    assert list(leased) == [imap]
    listener = psycopg2.connect(dbname="postgres", **PG)
    listener.autocommit = True
    listener.cursor().execute("LISTEN cron_trigger")
    try:
        backend.notify([imap])
        triggered = sql(
            push_db,
            "SELECT d.module || '.' || d.name FROM ir_cron_trigger t "
            "JOIN ir_model_data d ON d.res_id = t.cron_id AND d.model = 'ir.cron' ORDER BY 1",
        )
        assert [row[0] for row in triggered] == sorted(SYNC_CRONS)
        assert select.select([listener], [], [], GUARD_SECONDS) != ([], [], [])
        listener.poll()
        assert [n.payload for n in listener.notifies] == [push_db]
        # Still waiting for its sync: the retrigger wakes the crons again; once the sync
        # started after the signal, it does not.
        backend.retrigger()
        assert sql(push_db, "SELECT count(*) FROM ir_cron_trigger")[0][0] == 4
        sql(push_db, "UPDATE crm_mailbox SET push_synced_at = now() + interval '1 second'")
        backend.retrigger()
        assert sql(push_db, "SELECT count(*) FROM ir_cron_trigger")[0][0] == 4
    finally:
        listener.close()
        backend.release()
    assert sql(push_db, "SELECT holder FROM crm_mailbox_lease") == [(None,)]


def test_backend_holds_one_connection_and_reconnects_after_losing_it(push_db):
    add_mailbox(push_db)
    backend = make_backend(push_db, CountingSource({}))
    backend.refresh()
    app = push_lease.application_name(backend.holder)

    def connections():
        return sql(
            "postgres",
            "SELECT datname, count(*) FROM pg_stat_activity WHERE application_name = %s GROUP BY 1",
            (app,),
        )

    assert connections() == [(push_db, 1)]
    sql(
        "postgres",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
        (app,),
    )
    with pytest.raises(psycopg2.Error):
        backend.refresh()  # the service logs it and tries again at the next refresh
    assert len(backend.refresh()) == 1
    assert connections() == [(push_db, 1)]
    backend.release()


def test_whole_service_with_dovecot_wakes_the_crons_on_new_mail(push_db, dovecot, mail_user):
    mailbox_id = add_mailbox(push_db, login=mail_user[0])
    source = CountingSource({mailbox_id: imap_settings(dovecot, *mail_user)})
    backend = make_backend(push_db, source)

    def triggers():
        return sql(push_db, "SELECT count(*) FROM ir_cron_trigger")[0][0]

    async def scenario():
        async with running(push.PushService(backend, fast_config())) as service:
            await until(
                lambda: (w := service.watchers.get(mailbox_id)) and w.status == push.WATCHING,
                "IDLE",
            )
            await until(lambda: service.notified, "the catch-up sync asked for")
            before = triggers()
            await append(dovecot, mail_user)
            await until(lambda: triggers() > before, "the crons woken by the new mail")
            status = sql(push_db, "SELECT push_status FROM crm_mailbox_lease")
            assert status == [(push.WATCHING,)]

    asyncio.run(asyncio.wait_for(scenario(), GUARD_SECONDS * 2))
    assert source.batches == [[mailbox_id]]
    assert sql(push_db, "SELECT holder FROM crm_mailbox_lease") == [(None,)]
