"""One connection budget per account, on the Odoo side: with every slot of a Dovecot mailbox's
budget held elsewhere (another process's database connection), the sync, a copy to Sent,
SalesInbox's live column and the push watcher wait without failing, then proceed once a slot
is free, nothing lost and nothing stored twice."""

import base64

import psycopg2
from odoo.tests import tagged
from odoo.tools import config

from crm_mail_channel_core import connection_budget
from crm_mail_channel_core.push_budget import PushSlots

from ..models.crm_email_sales_inbox_live import LIVE_CACHE
from .common import MailboxCommon, make_mail
from .test_push import TestBackend, run_inline_service, until

BUSY = "Your mailbox is busy; try again in a moment."


class SlotTestBackend(TestBackend):
    """The push backend of test_push with the service's slots (push_budget), taken on the
    test transaction's connection as the real service takes them on its own."""

    def __init__(self, env):
        super().__init__(env)
        self.cr = env.cr
        self.slots = PushSlots()

    def take_slot(self, mailbox_id):
        self.cr.flush()
        return self.slots.take(self.cr, mailbox_id)

    def release_slot(self, mailbox_id):
        self.slots.release(self.cr, mailbox_id)


@tagged("post_install", "-at_install")
class TestConnectionBudget(MailboxCommon):
    def setUp(self):
        super().setUp()
        self.env["ir.config_parameter"].set_param(connection_budget.PARAMETER, "2")
        self.mailbox, self.login, self.password = self.make_mailbox(self.user_a)
        self.account = connection_budget.account_key(self.mailbox.host, self.login)
        # Another process (a push service, another Odoo worker): its own database connection.
        self.other = psycopg2.connect(
            dbname=self.env.cr.dbname,
            host=config["db_host"] or None,
            port=config["db_port"] or None,
            user=config["db_user"] or None,
            password=config["db_password"] or None,
        )
        self.other.autocommit = True
        self.addCleanup(self.other.close)
        self.other_cr = self.other.cursor()
        LIVE_CACHE.clear()
        self.addCleanup(LIVE_CACHE.clear)

    def hold_elsewhere(self, count=2):
        slots = [connection_budget.try_take(self.other_cr, self.account, 2) for _ in range(count)]
        self.assertEqual(slots, list(range(count)))
        return slots

    def free_elsewhere(self, slots):
        for slot in slots:
            connection_budget.release(self.other_cr, self.account, slot)

    def due(self):
        Mailbox = self.env["crm.mailbox"]
        return Mailbox.search(Mailbox._due_mailboxes_domain())

    def in_use(self):
        return connection_budget.in_use(self.other_cr, {self.account: 2})[self.account]

    # ------------------------------------------------------------------ sync
    def test_sync_waits_for_a_free_connection(self):
        raw = make_mail("joe@acme.example", self.login, subject="Budget talk")
        self.append(self.login, self.password, "INBOX", [raw])
        held = self.hold_elsewhere()
        self.assertIn(self.mailbox, self.due())
        self.env["crm.mailbox"]._cron_sync_mailboxes()
        # Not started, not failed: still due, nothing written, nothing connected.
        self.assertEqual(self.mailbox.state, "connected")
        self.assertFalse(self.mailbox.last_error)
        self.assertFalse(self.mailbox.last_sync_date)
        self.assertIn(self.mailbox, self.due())
        self.assertFalse(self.emails_of(self.user_a, self.joe))
        self.assertEqual(self.mailbox.with_user(self.user_a).connection_usage, "2 of 2")
        action = self.mailbox.with_user(self.user_a).action_sync_now()
        self.assertEqual(action["params"]["type"], "warning")
        self.assertFalse(self.mailbox.last_sync_date)
        # One slot frees: the next run syncs.
        self.free_elsewhere(held[1:])
        self.env["crm.mailbox"]._cron_sync_mailboxes()
        self.assertEqual(self.emails_of(self.user_a, self.joe).subject, "Budget talk")
        self.assertEqual(self.mailbox.state, "connected")
        self.assertNotIn(self.mailbox, self.due())
        self.assertEqual(self.in_use(), 1)  # the sync gave its slot back
        self.mailbox.invalidate_recordset(["connection_usage"])
        self.assertEqual(self.mailbox.connection_usage, "1 of 2")

    def test_two_mailboxes_on_one_account_sync_one_at_a_time(self):
        # The same account typed in capitals by another user: one budget, one sync at a time.
        other = (
            self.env["crm.mailbox"]
            .with_user(self.user_b)
            .create(
                {
                    "host": self.mailbox.host,
                    "port": self.mailbox.port,
                    "security": "none",
                    "login": self.login.upper(),
                    "password": self.password,
                    "state": "connected",
                }
            )
        )
        self.assertEqual(other._crm_account_key(), self.mailbox._crm_account_key())
        with connection_budget.sync_lock(self.other_cr, self.account) as mine:
            self.assertTrue(mine)  # another worker syncs the account now
            self.assertEqual(other.sudo()._sync(), "deferred")
            self.assertFalse(other.last_sync_date)
        other.sudo()._sync()
        self.assertTrue(other.last_sync_date)

    # ------------------------------------------------------------------ copy to Sent
    def sent_folder(self):
        client = self.imap(self.login, self.password)
        try:
            client.select_folder("Sent", readonly=True)
            return client.search(["ALL"])
        finally:
            client.logout()

    def test_sent_copy_waits_then_is_stored_once(self):
        raw = make_mail("joe@acme.example", self.login, subject="First contact")
        self.append(self.login, self.password, "INBOX", [raw])
        self.mailbox._sync()
        email = self.emails_of(self.user_a, self.joe)
        sent = make_mail(self.login, "joe@acme.example", subject="Our offer")
        Pending = self.env["crm.mailbox.pending.append"].sudo()
        pending = Pending.create(
            {
                "mailbox_id": self.mailbox.id,
                "email_id": email.id,
                "message_id": email.message_id,
                "raw": base64.b64encode(sent),
                "state": "failed",
            }
        )
        held = self.hold_elsewhere()
        Pending._cron_retry()
        self.assertEqual(pending.state, "failed")  # still pending, not a failed attempt
        self.assertEqual(pending.attempts, 0)
        self.assertIn("busy", pending.last_error)
        self.assertEqual(self.sent_folder(), [])
        self.free_elsewhere(held[:1])
        Pending._cron_retry()
        self.assertEqual(pending.state, "done")
        Pending._cron_retry()  # nothing left to do
        self.assertEqual(len(self.sent_folder()), 1)
        self.assertEqual(self.in_use(), 1)

    # ------------------------------------------------------------------ SalesInbox
    def test_live_column_says_the_mailbox_is_busy(self):
        raw = make_mail("stranger@nowhere.example", self.login, subject="Who are you?")
        self.append(self.login, self.password, "INBOX", [raw])
        Email = self.env["crm.email"].with_user(self.user_a)
        held = self.hold_elsewhere()
        self.assertEqual(Email._sales_inbox_previews(refresh=True), ([], BUSY))
        self.free_elsewhere(held)
        previews, error = Email._sales_inbox_previews(refresh=True)
        self.assertFalse(error)
        self.assertEqual([p.subject for p in previews], ["Who are you?"])
        # Busy again: what was read last is served.
        held = self.hold_elsewhere()
        self.assertEqual(Email._sales_inbox_previews(refresh=True), (previews, False))
        self.free_elsewhere(held)

    # ------------------------------------------------------------------ push
    def test_push_waits_for_a_free_connection(self):
        backend = SlotTestBackend(self.env)
        held = self.hold_elsewhere(1)  # slot 0, the only one IDLE may take with a budget of 2
        mailbox = self.mailbox

        def status():
            self.env.invalidate_all()  # the service writes lease rows in SQL
            return mailbox.with_user(self.user_a).push_status

        async def scenario(service):
            await until(lambda: status() == "Waiting for a free connection", "waiting")
            self.assertEqual(self.dovecot.connection_count(self.login), 0)
            self.free_elsewhere(held)
            await until(lambda: status().startswith("Watched (IDLE) by"), "watching")
            self.assertEqual(status(), f"Watched (IDLE) by {backend.holder}")
            self.assertEqual(self.dovecot.connection_count(self.login), 1)
            # IDLE holds one slot; the sync it wakes takes the other.
            raw = make_mail("joe@acme.example", self.login)
            self.append(self.login, self.password, "INBOX", [raw])
            mailbox._sync()
            self.assertEqual(mailbox.state, "connected")
            self.assertTrue(self.emails_of(self.user_a, self.joe))
            self.assertEqual(self.in_use(), 1)

        run_inline_service(backend, scenario, slot_wait_seconds=0.2)
        self.assertEqual(self.in_use(), 0)  # the stopped watcher gave its slot back
