"""Mailbox sync: a localised Sent folder, the scheduled job's batches, an interrupted sync."""

import dataclasses
import uuid
from collections import Counter
from unittest.mock import patch

import psycopg2
from odoo.addons.crm_mail_channel.models.crm_mailbox import CrmMailbox
from odoo.addons.crm_mail_channel.sync_store import MailboxStore
from odoo.tests import new_test_user, tagged

from .common import MailboxCommon, make_mail


class WorkerKilled(BaseException):
    """Stands for a worker killed mid-sync: not an Exception, so no handler catches it."""


@tagged("post_install", "-at_install", "crm_mail_channel")
class TestMailboxSyncRobustness(MailboxCommon):
    def _presences(self, mailbox):
        return self.env["crm.email.presence"].sudo().search([("mailbox_id", "=", mailbox.id)])

    def _assert_each_once(self, mailbox, subjects):
        """Every subject is one crm.email with exactly one presence in ``mailbox``."""
        presences = self._presences(mailbox)
        emails = presences.email_id
        self.assertEqual(len(presences), len(subjects), "one presence per message")
        self.assertEqual(sorted(emails.sudo().mapped("subject")), sorted(subjects))
        per_message_id = Counter(presences.email_id.mapped("message_id"))
        self.assertEqual(set(per_message_id.values()), {1})
        stored = (
            self.env["crm.email"].sudo().search_count([("message_id", "in", list(per_message_id))])
        )
        self.assertEqual(stored, len(subjects), "each Message-ID stored once")

    # ------------------------------------------------------------------ SPECIAL-USE
    def test_sent_folder_found_by_special_use_under_another_name(self):
        """Outlook in German: the Sent folder is "Gesendete Objekte", flagged \\Sent."""
        login, pw = f"de{uuid.uuid4().hex[:10]}", "secret"
        self.dovecot.add_user(login, pw, folders=("Gesendete Objekte", "Trash"))
        mailbox = (
            self.env["crm.mailbox"]
            .with_user(self.user_a)
            .create(
                {
                    "host": "127.0.0.1",
                    "port": self.dovecot.imap_port,
                    "security": "none",
                    "login": login,
                    "password": pw,
                    "state": "connected",
                }
            )
        )
        self.append(
            login,
            pw,
            "INBOX",
            [
                make_mail("joe@acme.example", login, subject="Frage zum Angebot"),
            ],
        )
        self.append(
            login,
            pw,
            "Gesendete Objekte",
            [
                make_mail(login, "ann@acme.example", subject="Ihre Bestellung"),
                make_mail(login, "someone@else.example", subject="Not a customer"),
            ],
        )
        self.append(
            login,
            pw,
            "Trash",
            [
                make_mail(login, "ann@acme.example", subject="Deleted draft"),
            ],
        )

        mailbox.with_user(self.user_a).action_sync_now()

        self.assertEqual(mailbox.state, "connected")
        self.assertEqual(
            sorted((f.role, f.name) for f in mailbox.folder_ids),
            [("inbox", "INBOX"), ("sent", "Gesendete Objekte")],
        )
        sent = self.emails_of(self.user_a, self.ann)
        self.assertEqual(sent.mapped("subject"), ["Ihre Bestellung"])
        self.assertTrue(sent.in_sent)
        self.assertEqual(sent.presence_ids.folder_id.name, "Gesendete Objekte")
        self.assertEqual(
            self.emails_of(self.user_a, self.joe).mapped("subject"), ["Frage zum Angebot"]
        )
        self.assertFalse(self.emails_of(self.user_a, self.joe).in_sent)
        # A second sync finds the same folder again and imports nothing twice.
        mailbox.with_user(self.user_a).action_sync_now()
        self.assertEqual(mailbox.last_imported, 0)
        self.assertEqual(len(mailbox.folder_ids), 2)
        self._assert_each_once(mailbox, ["Frage zum Angebot", "Ihre Bestellung"])

    # ------------------------------------------------------------------ scheduled job
    def test_cron_syncs_mailboxes_in_batches_and_reports_progress(self):
        """Batches of 2 with progress reported; a wrong password does not stop the others."""
        # Only this test's mailboxes are due.
        self.env["crm.mailbox"].sudo().search([]).write({"state": "paused"})
        user_c = new_test_user(
            self.env,
            login="cmc_sync_c",
            name="Carol Seller",
            email="carol@ourco.example",
            groups="sales_team.group_sale_salesman,base.group_user",
        )
        broken, login_1, pw_1 = self.make_mailbox(self.user_a)
        box_b, login_b, pw_b = self.make_mailbox(self.user_b)
        box_c, login_c, pw_c = self.make_mailbox(user_c)
        self.append(
            login_1, pw_1, "INBOX", [make_mail("joe@acme.example", login_1, subject="Never read")]
        )
        self.append(
            login_b, pw_b, "INBOX", [make_mail("joe@acme.example", login_b, subject="For Bob")]
        )
        self.append(
            login_c, pw_c, "Sent", [make_mail(login_c, "ann@acme.example", subject="From Carol")]
        )
        broken.with_user(self.user_a).password = "wrong-password"
        self.assertLess(broken.id, box_b.id)  # the broken one is synced first

        cron = self.env.ref("crm_mail_channel.ir_cron_sync_mailboxes")
        progress = self.env["ir.cron.progress"].create({"cron_id": cron.id})
        Mailbox = self.env["crm.mailbox"].with_context(ir_cron_progress_id=progress.id)
        calls = []
        real_notify = type(self.env["ir.cron"])._notify_progress

        def record(cron_model, *, done, remaining, deactivate=False):
            calls.append((done, remaining))
            return real_notify(cron_model, done=done, remaining=remaining, deactivate=deactivate)

        with patch.object(
            type(self.env["ir.cron"]), "_notify_progress", autospec=True, side_effect=record
        ):
            self.assertEqual(Mailbox._cron_sync_mailboxes(batch_size=2), 2)
            self.assertEqual(calls, [(2, 1)])
            self.assertEqual((progress.done, progress.remaining), (2, 1))
            # First batch: the broken mailbox failed, the next one of the batch still synced.
            self.assertEqual(broken.state, "error")
            self.assertIn("password", broken.last_error)
            self.assertEqual(box_b.state, "connected")
            self.assertEqual(self.emails_of(self.user_b, self.joe).mapped("subject"), ["For Bob"])
            self.assertFalse(box_c.last_sync_date, "third mailbox waits for the next batch")

            self.assertEqual(Mailbox._cron_sync_mailboxes(batch_size=2), 1)
            self.assertEqual(calls, [(2, 1), (1, 0)])
            self.assertEqual((progress.done, progress.remaining), (1, 0))
            self.assertEqual(box_c.state, "connected")
            self.assertEqual(self.emails_of(user_c, self.ann).mapped("subject"), ["From Carol"])

            # Nothing due any more: no work, reported as finished.
            self.assertEqual(Mailbox._cron_sync_mailboxes(batch_size=2), 0)
            self.assertEqual(calls[-1], (0, 0))
        self.assertFalse(self.env["crm.email"].sudo().search([("subject", "=", "Never read")]))
        self.assertEqual(broken.state, "error")

    # ------------------------------------------------------------------ interrupted sync
    def _small_batches(self, size=3):
        real = CrmMailbox._sync_options

        def options(mailbox, max_seconds=None):
            return dataclasses.replace(real(mailbox, max_seconds), batch_size=size)

        return patch.object(CrmMailbox, "_sync_options", autospec=True, side_effect=options)

    def _fail_in_second_batch(self, exception):
        """Patch the store so the 2nd batch fails after writing its rows (inside store_batch)."""
        real = MailboxStore._import
        calls = []

        def failing(store, folder, messages, failures, pop=False):
            calls.append(len(messages))
            result = real(store, folder, messages, failures, pop=pop)
            if len(calls) == 2:
                raise exception
            return result

        return patch.object(MailboxStore, "_import", autospec=True, side_effect=failing), calls

    def _fill(self, login, pw):
        inbox = [f"In {i}" for i in range(8)]
        sent = [f"Out {i}" for i in range(4)]
        self.append(
            login,
            pw,
            "INBOX",
            [make_mail("joe@acme.example", login, subject=s) for s in inbox]
            + [make_mail("stranger@else.example", login, subject="Not a customer")],
        )
        self.append(
            login, pw, "Sent", [make_mail(login, "ann@acme.example", subject=s) for s in sent]
        )
        return inbox + sent

    def test_sync_failing_in_second_batch_then_normal_sync_imports_each_once(self):
        """An unexpected error mid-sync keeps the first batch; the next sync adds the rest."""
        mailbox, login, pw = self.make_mailbox(self.user_a)
        subjects = self._fill(login, pw)
        # A database-level failure (a single message's failure is quarantined instead, see
        # TestStoreIsolation).
        failing, calls = self._fail_in_second_batch(psycopg2.OperationalError("worker lost"))
        with (
            self._small_batches(),
            failing,
            self.assertLogs(
                "odoo.addons.crm_mail_channel.models.crm_mailbox",
                level="ERROR",
            ) as logged,
        ):
            mailbox.with_user(self.user_a).action_sync_now()
        self.assertEqual(str(logged.records[0].exc_info[1]), "worker lost")
        self.assertEqual(len(calls), 2)
        self.assertEqual(mailbox.state, "error")
        self.assertNotIn("Traceback", mailbox.last_error)
        # The first batch (the newest three: "In 6", "In 7", the stranger's) stays, the second
        # was rolled back with its cursor.
        self.assertEqual(len(self._presences(mailbox)), 2)
        inbox = mailbox.folder_ids.filtered(lambda f: f.role == "inbox")
        self.assertEqual((inbox.last_uid, inbox.backfill_below), (9, 7))

        with self._small_batches():
            mailbox.with_user(self.user_a).action_sync_now()
        self.assertEqual(mailbox.state, "connected")
        self._assert_each_once(mailbox, subjects)
        self.assertEqual(len(self.emails_of(self.user_a, self.joe)), 8)
        self.assertEqual(len(self.emails_of(self.user_a, self.ann)), 4)

    def test_killed_sync_then_normal_sync_imports_each_once(self):
        """A worker killed in the 2nd batch loses its whole transaction; nothing is doubled."""
        mailbox, login, pw = self.make_mailbox(self.user_a)
        subjects = self._fill(login, pw)
        failing, calls = self._fail_in_second_batch(WorkerKilled())
        with (
            self._small_batches(),
            failing,
            self.assertRaises(WorkerKilled),
            self.env.cr.savepoint(),
        ):
            # The savepoint stands for the killed worker's transaction: rolled back whole.
            mailbox.with_user(self.user_a).action_sync_now()
        self.assertEqual(len(calls), 2)
        self.assertFalse(self._presences(mailbox))
        self.assertFalse(mailbox.folder_ids.filtered("last_uid"))

        with self._small_batches():
            mailbox.with_user(self.user_a).action_sync_now()
        self.assertEqual(mailbox.state, "connected")
        self._assert_each_once(mailbox, subjects)
        # And a further sync changes nothing.
        mailbox.with_user(self.user_a).action_sync_now()
        self.assertEqual(mailbox.last_imported, 0)
        self._assert_each_once(mailbox, subjects)
