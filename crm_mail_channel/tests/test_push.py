"""Push (IMAP IDLE) on the Odoo side: a real Dovecot, the push service's watcher code and the
model methods the ``crm_mail_push`` command calls, the sync cron, throttling backoff."""

import asyncio
import uuid
from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from crm_mail_channel_core import push, push_lease
from crm_mail_channel_testing.imap_faults import ThrottlingImapServer

from ..cli.crm_mail_push import CrmMailPush, make_parser
from .common import MailboxCommon, make_mail

GUARD_SECONDS = 30  # a guard against hanging, not a latency assertion


class InlinePushService(push.PushService):
    """The push service with its database calls made on the test's cursor, in the test's
    thread (the real service makes them in one worker thread, each in its own transaction)."""

    async def call(self, func, *args):
        return func(*args)


class TestBackend:
    """The command's backend (cli/crm_mail_push.py) on the test transaction."""

    def __init__(self, env):
        self.Mailbox = env["crm.mailbox"].sudo()  # sudo: the push service works as superuser
        self.holder = push_lease.make_holder()

    def refresh(self):
        leased = self.Mailbox._crm_push_refresh(self.holder, 45)
        self.retrigger()
        return leased

    def settings(self, mailbox_id):
        return self.Mailbox._crm_push_settings(mailbox_id)

    def notify(self, mailbox_ids):
        self.Mailbox._crm_push_notify(list(mailbox_ids))

    def retrigger(self):
        self.Mailbox._crm_push_retrigger()

    def report(self, statuses):
        self.Mailbox._crm_push_report(self.holder, dict(statuses))

    def release(self):
        self.Mailbox._crm_push_release(self.holder)


def run_inline_service(backend, scenario, **config):
    """Run the push service on the test's cursor while ``scenario(service)`` runs."""
    config.setdefault("refresh_seconds", 0.2)
    config.setdefault("timeout", 10)

    async def main():
        service = InlinePushService(backend, push.PushConfig(**config))
        stop = asyncio.Event()
        task = asyncio.ensure_future(service.run(stop))
        try:
            await scenario(service)
        finally:
            stop.set()
            await asyncio.wait_for(task, GUARD_SECONDS)

    asyncio.run(main())


async def until(condition, what):
    for _ in range(int(GUARD_SECONDS / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"still waiting for: {what}")


@tagged("post_install", "-at_install")
class TestPushSync(MailboxCommon):
    def setUp(self):
        super().setUp()
        self.Mailbox = self.env["crm.mailbox"]
        self.cron = self.env.ref("crm_mail_channel.ir_cron_sync_mailboxes")

    def due(self):
        return self.Mailbox.search(self.Mailbox._due_mailboxes_domain())

    def run_service(self, backend, scenario):
        run_inline_service(backend, scenario)

    def test_new_mail_wakes_the_sync_which_stores_it(self):
        mailbox, login, pw = self.make_mailbox(self.user_a)
        self.Mailbox._cron_sync_mailboxes()
        self.assertTrue(mailbox.last_sync_date)
        self.assertNotIn(mailbox, self.due())  # synced: not due before 4 minutes of polling
        self.env["ir.cron.trigger"].search([("cron_id", "=", self.cron.id)]).unlink()
        backend = TestBackend(self.env)

        async def scenario(service):
            await until(
                lambda: getattr(service.watchers.get(mailbox.id), "status", "") == "watching",
                "the mailbox in IDLE",
            )
            raw = make_mail("joe@acme.example", login, subject="Reply on the deal")
            await asyncio.to_thread(self.append, login, pw, "INBOX", [raw])
            await until(lambda: service.watchers[mailbox.id].wakeups == 1, "the IDLE notification")
            await until(lambda: service.notified.count(mailbox.id) == 2, "the sync asked for")

        self.run_service(backend, scenario)
        self.assertIn(mailbox, self.due())
        self.assertTrue(self.env["ir.cron.trigger"].search([("cron_id", "=", self.cron.id)]))
        self.Mailbox._cron_sync_mailboxes()
        self.assertEqual(self.emails_of(self.user_a, self.joe).subject, "Reply on the deal")
        self.assertNotIn(mailbox, self.due())
        lease = self.env["crm.mailbox.lease"].search([("mailbox_id", "=", mailbox.id)])
        self.assertTrue(lease.pushed_at)
        self.assertFalse(lease.holder)  # the service stopped cleanly: lease given back

    def test_signal_during_a_sync_makes_the_mailbox_due_again(self):
        mailbox, _login, _pw = self.make_mailbox(self.user_a)
        backend = TestBackend(self.env)
        self.assertIn(mailbox.id, backend.refresh())
        mailbox._sync()
        self.assertNotIn(mailbox, self.due())
        backend.notify([mailbox.id])  # after the sync started: new mail it may have missed
        self.assertIn(mailbox.id, self.Mailbox._crm_pushed_ids())
        mailbox._sync()
        self.assertNotIn(mailbox.id, self.Mailbox._crm_pushed_ids())

    def test_pushed_mailboxes_are_synced_first(self):
        polled, _l, _p = self.make_mailbox(self.user_a)
        pushed, _l2, _p2 = self.make_mailbox(self.user_b)
        backend = TestBackend(self.env)
        backend.refresh()
        backend.notify([pushed.id])
        domain = self.Mailbox._due_mailboxes_domain()
        self.assertEqual(self.Mailbox._crm_due_batch(domain, 1), pushed)
        self.assertEqual(self.Mailbox._crm_due_batch(domain, 2), pushed | polled)

    def test_which_mailboxes_are_watched(self):
        imap, _l, _p = self.make_mailbox(self.user_a)
        pop3, _l2, _p2 = self.make_mailbox(self.user_a, protocol="pop3")
        paused, _l3, _p3 = self.make_mailbox(self.user_b)
        paused.with_user(self.user_b).action_pause()
        reconnect, _l4, _p4 = self.make_mailbox(self.user_b)
        reconnect.write({"state": "needs_reconnect"})
        errored, _l5, _p5 = self.make_mailbox(self.user_b)
        errored.write({"state": "error"})  # e.g. a refused password: no login every reconnect
        candidates = self.Mailbox._crm_push_candidates()
        self.assertIn(imap.id, candidates)
        for mailbox in (pop3, paused, reconnect, errored):
            self.assertNotIn(mailbox.id, candidates)
        backend = TestBackend(self.env)
        self.assertIsNone(backend.settings(paused.id))
        self.assertEqual(backend.settings(imap.id).login, imap.login)
        # A sync writes the mailbox but changes nothing a watcher connects with...
        version = candidates[imap.id]
        imap._sync()
        self.assertEqual(self.Mailbox._crm_push_candidates()[imap.id], version)
        # ... a new password does: the watcher reconnects with it.
        imap.with_user(self.user_a).password = "another-secret"
        self.assertNotEqual(self.Mailbox._crm_push_candidates()[imap.id], version)
        # Paused later: released at the next refresh.
        self.assertIn(imap.id, backend.refresh())
        imap.with_user(self.user_a).action_pause()
        self.assertNotIn(imap.id, backend.refresh())

    def test_sign_in_that_cannot_be_used_is_not_watched(self):
        mailbox, _l, _p = self.make_mailbox(self.user_a)
        backend = TestBackend(self.env)
        self.assertTrue(backend.settings(mailbox.id))
        # A Google sign-in without its bridge addon: no token, so no IDLE connection (the
        # sync says why on the mailbox); the settings are asked for at every connection.
        mailbox.write({"auth_type": "google", "state": "connected"})
        self.assertIsNone(backend.settings(mailbox.id))

    def test_status_on_the_mailbox(self):
        mailbox, _l, _p = self.make_mailbox(self.user_a)
        backend = TestBackend(self.env)
        backend.refresh()
        backend.report({mailbox.id: ("throttled", "Too many simultaneous connections")})
        mailbox.invalidate_recordset(["push_status"])
        status = mailbox.with_user(self.user_a).push_status
        self.assertIn("throttled by the server", status)
        self.assertIn("Too many simultaneous connections", status)
        backend.release()
        self.env.invalidate_all()  # the service writes lease rows in SQL
        self.assertEqual(
            mailbox.push_status, "Polling: no push service is running (checked every few minutes)"
        )

    def test_push_methods_and_leases_are_not_for_users(self):
        Mailbox = self.Mailbox.with_user(self.user_a)
        with self.assertRaises(UserError):
            Mailbox._crm_push_refresh("intruder", 45)
        with self.assertRaises(UserError):
            Mailbox._crm_push_notify([1])
        with self.assertRaises(AccessError):
            self.env["crm.mailbox.lease"].with_user(self.user_a).search([])

    def test_command_is_found_by_odoo(self):
        from odoo.cli.command import commands

        self.assertIs(commands.get("crm_mail_push"), CrmMailPush)
        opts, rest = make_parser().parse_known_args(["-d", "x", "--push-refresh", "5"])
        self.assertEqual((opts.push_refresh, rest), (5.0, ["-d", "x"]))


@tagged("post_install", "-at_install")
class TestThrottledSync(MailboxCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = ThrottlingImapServer().start()
        cls.addClassCleanup(cls.server.stop)

    def test_throttled_sync_backs_off_without_failing(self):
        mailbox, _login, _pw = self.make_mailbox(self.user_a, port=self.server.port)
        Mailbox = self.env["crm.mailbox"]
        mailbox._sync()
        self.assertEqual(mailbox.state, "connected")  # not an error
        self.assertTrue(mailbox.has_password)  # not a wrong password either
        self.assertIn("Too many simultaneous connections", mailbox.last_error)
        self.assertEqual(mailbox.throttle_count, 1)
        first_wait = mailbox.throttled_until - fields.Datetime.now()
        self.assertGreater(first_wait, timedelta(minutes=4))
        self.assertNotIn(mailbox, Mailbox.search(Mailbox._due_mailboxes_domain()))
        # Pushed while throttled: still waits.
        Mailbox._crm_push_refresh(f"svc-{uuid.uuid4().hex[:6]}", 45)
        Mailbox._crm_push_notify([mailbox.id])
        self.assertNotIn(mailbox.id, Mailbox._crm_pushed_ids())
        past = fields.Datetime.now() - timedelta(minutes=10)
        mailbox.write({"throttled_until": past, "last_sync_date": past})
        self.assertIn(mailbox, Mailbox.search(Mailbox._due_mailboxes_domain()))
        Mailbox._cron_sync_mailboxes()
        self.assertEqual(mailbox.throttle_count, 2)  # the wait grows
        self.assertGreater(mailbox.throttled_until - fields.Datetime.now(), first_wait)
        self.assertEqual(mailbox.state, "connected")

    def test_a_good_sync_forgets_the_throttling(self):
        mailbox, _login, _pw = self.make_mailbox(self.user_a)
        mailbox.write({"throttle_count": 3, "throttled_until": fields.Datetime.now()})
        mailbox._sync()
        self.assertEqual((mailbox.throttle_count, mailbox.throttled_until), (0, False))
