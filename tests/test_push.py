"""Push watchers (IMAP IDLE) against the real Dovecot, and push leases on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from datetime import datetime

import psycopg2
import pytest
from imapclient.exceptions import LoginError

from crm_mail_channel_core import push, push_lease
from crm_mail_channel_core.errors import Throttled, throttle_reason
from crm_mail_channel_core.mailbox_client import map_error
from crm_mail_channel_testing.imap_faults import CuttingProxy, ThrottlingImapServer
from crm_mail_channel_testing.samples import make_message
from tests.conftest import PG, imap_settings, pop3_settings, scratch_database

# How long a test waits for something that should happen in well under a second: a guard
# against hanging, not a latency assertion.
GUARD_SECONDS = 30


class FakeBackend:
    """In-memory push backend: ``targets`` maps mailbox id -> (version, settings)."""

    def __init__(self, targets):
        self.targets = dict(targets)
        self.statuses = {}
        self.released = False
        self.retriggers = 0

    def refresh(self):
        return {mailbox_id: version for mailbox_id, (version, _s) in self.targets.items()}

    def settings(self, mailbox_id):
        target = self.targets.get(mailbox_id)
        return target[1] if target else None

    def notify(self, mailbox_ids):
        pass

    def retrigger(self):
        self.retriggers += 1

    def report(self, statuses):
        self.statuses.update(statuses)

    def release(self):
        self.released = True


def fast_config(**kw):
    kw.setdefault("refresh_seconds", 0.2)
    kw.setdefault("backoff_initial", 0.2)
    kw.setdefault("backoff_max", 0.5)
    kw.setdefault("timeout", 5)
    return push.PushConfig(**kw)


async def until(condition, what):
    for _ in range(int(GUARD_SECONDS / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"still waiting for: {what}")


def mail(subject):
    return make_message("client@cust.example", "me@crm.example", subject, "hi", datetime.now())


async def append(dovecot, user, subject="new"):
    await asyncio.to_thread(dovecot.append_messages, *user, "INBOX", [mail(subject)])


@contextlib.asynccontextmanager
async def running(service):
    stop = asyncio.Event()
    task = asyncio.ensure_future(service.run(stop))
    try:
        yield service
    finally:
        stop.set()
        await asyncio.wait_for(task, GUARD_SECONDS)


def watcher(service, mailbox_id=1):
    return service.watchers.get(mailbox_id)


def status(service, mailbox_id=1):
    found = watcher(service, mailbox_id)
    return found and found.status


# ---- plain functions ---------------------------------------------------------------------------
def test_notification_kinds():
    assert push.notification_kinds([b"4 EXISTS", b"1 RECENT"]) == {"EXISTS"}
    assert push.notification_kinds([b"3 EXPUNGE", b"2 FETCH (FLAGS (\\Seen))"]) == {
        "EXPUNGE",
        "FETCH",
    }
    assert push.notification_kinds([b"OK Still here", b"BYE"]) == set()


def test_throttling_answers_are_not_login_failures(imap_cfg):
    for text in (
        "[THROTTLED] Account exceeded command or bandwidth limits",
        "[UNAVAILABLE] Too many simultaneous connections. (Failure)",
        "Maximum number of connections from user+IP exceeded (mail_max_userip_connections=10)",
    ):
        assert throttle_reason(text)
        error = map_error(LoginError(text), imap_cfg)
        assert isinstance(error, Throttled) and error.code == "throttled"
        assert text.split()[0] in error.user_message
    assert throttle_reason("[AUTHENTICATIONFAILED] Invalid credentials") is None


# ---- watchers against Dovecot ------------------------------------------------------------------
def test_append_wakes_the_watcher(dovecot, mail_user):
    async def scenario():
        backend = FakeBackend({1: ("v1", imap_settings(dovecot, *mail_user))})
        async with running(push.PushService(backend, fast_config())) as service:
            await until(lambda: status(service) == push.WATCHING, "IDLE")
            # One catch-up sync when the watch starts (mail that came while not watched).
            await until(lambda: service.notified == [1], "the catch-up sync")
            assert watcher(service).wakeups == 0
            await append(dovecot, mail_user)
            await until(lambda: service.notified == [1, 1], "a notification after APPEND")
            assert watcher(service).wakeups == 1
            await until(lambda: backend.statuses.get(1, ("",))[0] == "watching", "report")
        assert backend.released

    asyncio.run(scenario())


def test_ssl_watcher(dovecot, mail_user):
    async def scenario():
        settings = imap_settings(dovecot, *mail_user, security="ssl")
        async with running(push.PushService(FakeBackend({1: ("v", settings)}), fast_config())) as s:
            await until(lambda: status(s) == push.WATCHING, "IDLE over TLS")
            await append(dovecot, mail_user)
            await until(lambda: watcher(s).wakeups == 1, "a notification over TLS")

    asyncio.run(scenario())


def test_idle_is_reissued_and_keeps_working(dovecot, mail_user):
    async def scenario():
        backend = FakeBackend({1: ("v1", imap_settings(dovecot, *mail_user))})
        config = fast_config(reidle_seconds=0.3)
        async with running(push.PushService(backend, config)) as service:
            await until(lambda: watcher(service) and watcher(service).idles >= 4, "4 IDLEs")
            assert watcher(service).connects == 1  # re-IDLE, not reconnect
            await append(dovecot, mail_user)
            await until(lambda: watcher(service).wakeups == 1, "a notification after re-IDLE")

    asyncio.run(scenario())


def test_reconnects_after_the_server_drops_the_connection(dovecot, mail_user):
    async def scenario():
        backend = FakeBackend({1: ("v1", imap_settings(dovecot, *mail_user))})
        async with running(push.PushService(backend, fast_config())) as service:
            await until(lambda: status(service) == push.WATCHING, "IDLE")
            dovecot.kick_user(mail_user[0])
            await until(lambda: watcher(service).connects >= 2, "a reconnection")
            await until(lambda: status(service) == push.WATCHING, "IDLE again")
            await until(lambda: service.notified.count(1) >= 2, "a catch-up sync")
            await append(dovecot, mail_user)
            await until(lambda: watcher(service).wakeups == 1, "a notification after reconnecting")

    asyncio.run(scenario())


def test_reconnects_after_a_network_cut(dovecot, mail_user):
    proxy = CuttingProxy(dovecot.imap_port).start()
    try:

        async def scenario():
            settings = imap_settings(dovecot, *mail_user)
            settings.port = proxy.port
            backend = FakeBackend({1: ("v1", settings)})
            async with running(push.PushService(backend, fast_config())) as service:
                await until(lambda: status(service) == push.WATCHING, "IDLE")
                proxy.cut()
                await until(lambda: watcher(service).connects >= 2, "a reconnection")
                await until(lambda: status(service) == push.WATCHING, "IDLE again")
                await append(dovecot, mail_user)
                await until(lambda: watcher(service).wakeups == 1, "a notification after the cut")
            assert proxy.connections >= 2

        asyncio.run(scenario())
    finally:
        proxy.stop()


def test_pop3_is_polled_not_watched(dovecot, mail_user):
    async def scenario():
        backend = FakeBackend({1: ("v", pop3_settings(dovecot, *mail_user))})
        async with running(push.PushService(backend, fast_config())) as service:
            await until(lambda: status(service, 1) == push.POLLING, "polling")
            assert watcher(service, 1).connects == 0
            assert "POP3" in watcher(service, 1).note

    asyncio.run(scenario())


def test_starttls_watcher_upgrades_the_connection_then_idles(dovecot, mail_user):
    async def scenario():
        settings = imap_settings(dovecot, *mail_user, security="starttls")
        backend = FakeBackend({1: ("v", settings)})
        async with running(push.PushService(backend, fast_config())) as service:
            await until(lambda: status(service) == push.WATCHING, "IDLE over STARTTLS")
            transport = watcher(service).client_transport
            assert transport.get_extra_info("ssl_object") is not None  # really encrypted
            before = watcher(service).wakeups
            await append(dovecot, mail_user)
            await until(lambda: watcher(service).wakeups > before, "the IDLE notification")

    asyncio.run(scenario())


def test_starttls_with_a_certificate_that_does_not_verify_is_not_watched(dovecot, mail_user):
    async def scenario():
        settings = imap_settings(dovecot, *mail_user, security="starttls", ssl_verify=True)
        backend = FakeBackend({1: ("v", settings)})
        async with running(push.PushService(backend, fast_config())) as service:
            await until(lambda: status(service) == push.BACKOFF, "a refused certificate")
            assert watcher(service).connects == 0
            assert "certificate" in (watcher(service).note or "").lower()

    asyncio.run(scenario())


def test_throttled_login_backs_off_with_the_reason():
    server = ThrottlingImapServer().start()
    try:

        async def scenario():
            settings = push.MailboxSettings("imap", "127.0.0.1", server.port, "none", "u", "p")
            backend = FakeBackend({1: ("v", settings)})
            config = fast_config(throttle_initial=3600, throttle_max=3600)
            async with running(push.PushService(backend, config)) as service:
                await until(lambda: status(service) == push.THROTTLED, "throttled")
                await until(lambda: backend.statuses.get(1, ("",))[0] == "throttled", "report")
                await asyncio.sleep(0.5)
                assert server.logins == 1  # backing off, not hammering the server
            assert "Too many simultaneous connections" in backend.statuses[1][1]

        asyncio.run(scenario())
    finally:
        server.stop()


def test_refresh_starts_stops_and_restarts_watchers(dovecot, mail_user):
    async def scenario():
        settings = imap_settings(dovecot, *mail_user)
        backend = FakeBackend({1: ("v1", settings)})
        async with running(push.PushService(backend, fast_config())) as service:
            await until(lambda: status(service) == push.WATCHING, "IDLE")
            first = watcher(service)
            backend.targets[1] = ("v2", settings)  # new settings: a new connection
            await until(lambda: watcher(service) not in (None, first), "a restarted watcher")
            await until(lambda: status(service) == push.WATCHING, "IDLE again")
            backend.targets.clear()  # paused or removed
            await until(lambda: watcher(service) is None, "the watcher stopped")
            before = len(service.notified)
            await append(dovecot, mail_user)
            await asyncio.sleep(0.5)
            assert len(service.notified) == before

    asyncio.run(scenario())


# ---- leases on a real PostgreSQL ---------------------------------------------------------------
@pytest.fixture
def lease_db():
    with scratch_database("cmc_push_l1", push_lease.LEASE_TABLE_DDL) as name:
        yield name


class Service:
    """One push service's database side: a connection named after its holder."""

    def __init__(self, dbname):
        self.holder = push_lease.make_holder()
        self.conn = psycopg2.connect(
            dbname=dbname, application_name=push_lease.application_name(self.holder), **PG
        )

    def refresh(self, candidates, ttl=30, services=None):
        with self.conn, self.conn.cursor() as cr:
            return push_lease.refresh_leases(cr, self.holder, candidates, ttl, services)

    def holders(self):
        with self.conn, self.conn.cursor() as cr:
            cr.execute("SELECT mailbox_id, holder FROM crm_mailbox_lease WHERE holder IS NOT NULL")
            return dict(cr.fetchall())


def test_two_services_share_the_mailboxes_and_take_over(lease_db):
    mailboxes = list(range(1, 11))
    a = Service(lease_db)
    assert a.refresh(mailboxes) == mailboxes  # alone: all of them
    b = Service(lease_db)
    assert b.refresh(mailboxes) == []  # all held by a, which is alive
    assert len(a.refresh(mailboxes)) == 5  # a sees b and hands over its excess
    got_b = b.refresh(mailboxes)
    assert len(got_b) == 5
    holders = a.holders()
    assert sorted(holders) == mailboxes
    assert {m for m, h in holders.items() if h == b.holder} == set(got_b)
    # A mailbox paused or removed: its lease is released at the next refresh.
    assert 10 not in a.refresh(mailboxes[:-1]) + b.refresh(mailboxes[:-1])
    assert 10 not in a.holders()
    # a dies (its connection goes, its leases are no longer renewed): b takes over once they
    # expire, and not before.
    a.refresh(mailboxes, ttl=0.5)
    a.conn.close()
    # a's server process ends a moment after its connection closes (and pg_stat_activity is
    # read once per transaction: one transaction per look).
    for _ in range(GUARD_SECONDS * 20):
        with b.conn, b.conn.cursor() as cr:
            if push_lease.live_services(cr) == 1:
                break
            cr.execute("SELECT pg_sleep(0.05)")
    with b.conn, b.conn.cursor() as cr:
        assert push_lease.live_services(cr) == 1
        cr.execute("SELECT pg_sleep(0.6)")
    assert b.refresh(mailboxes) == mailboxes
    b.conn.close()


def test_concurrent_claims_never_share_a_mailbox(lease_db):
    mailboxes = list(range(1, 201))
    services = [Service(lease_db) for _ in range(4)]
    results = {}
    barrier = threading.Barrier(len(services))

    def claim(service):
        barrier.wait()
        results[service.holder] = service.refresh(mailboxes, services=1)  # each wants all

    threads = [threading.Thread(target=claim, args=(s,)) for s in services]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    claimed = [m for got in results.values() for m in got]
    assert sorted(claimed) == mailboxes  # every mailbox once, none twice
    for service in services:
        service.conn.close()


def test_pushed_and_status_rows(lease_db):
    a = Service(lease_db)
    a.refresh([1, 2])
    with a.conn, a.conn.cursor() as cr:
        push_lease.mark_pushed(cr, [2])
        push_lease.report_status(
            cr, a.holder, {1: ("throttled", "slow down"), 2: ("watching", None)}
        )
        push_lease.report_status(cr, "someone-else", {1: ("watching", None)})  # not its lease
        cr.execute(
            "SELECT mailbox_id, pushed_at IS NOT NULL, push_status, push_note "
            "FROM crm_mailbox_lease ORDER BY mailbox_id"
        )
        assert cr.fetchall() == [(1, False, "throttled", "slow down"), (2, True, "watching", None)]
        push_lease.release_leases(cr, a.holder)
        cr.execute("SELECT count(*) FROM crm_mailbox_lease WHERE holder IS NOT NULL")
        assert cr.fetchone()[0] == 0
    a.conn.close()


def test_no_settings_waits_then_watches(dovecot, mail_user):
    async def scenario():
        backend = FakeBackend({1: ("v1", None)})  # e.g. a sign-in whose provider is down
        async with running(push.PushService(backend, fast_config())) as service:
            await until(lambda: status(service) == push.STOPPED, "stopped")
            backend.targets[1] = ("v1", imap_settings(dovecot, *mail_user))
            await until(lambda: status(service) == push.WATCHING, "IDLE once settings exist")

    asyncio.run(scenario())


def test_watchers_stop_when_the_leases_cannot_be_renewed(dovecot, mail_user):
    class FailingBackend(FakeBackend):
        failing = False

        def refresh(self):
            if self.failing:
                raise ConnectionError("database unreachable")
            return super().refresh()

    async def scenario():
        backend = FailingBackend({1: ("v1", imap_settings(dovecot, *mail_user))})
        config = fast_config(lease_seconds=0.5)
        async with running(push.PushService(backend, config)) as service:
            await until(lambda: status(service) == push.WATCHING, "IDLE")
            backend.failing = True  # another service takes the mailbox once the lease expires
            await until(lambda: watcher(service) is None, "the watcher stopped")
            backend.failing = False
            await until(lambda: status(service) == push.WATCHING, "IDLE again")

    asyncio.run(scenario())
