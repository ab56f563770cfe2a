"""Syncs as queue jobs against a real Dovecot: what the cron and push signals enqueue, what
the jobs import, and who may make or run them."""

from datetime import timedelta

from odoo import fields
from odoo.addons.crm_mail_channel.tests.common import make_mail
from odoo.addons.queue_job.exception import RetryableJobError
from odoo.addons.queue_job.tests.common import trap_jobs
from odoo.exceptions import AccessError
from odoo.models import check_method_name
from odoo.tests import tagged

from crm_mail_channel_core import connection_budget, push_lease

from .common import SYNC_KEY, QueueJobCommon


@tagged("post_install", "-at_install")
class TestQueueJobEnqueue(QueueJobCommon):
    def test_cron_enqueues_one_job_per_due_mailbox_on_its_provider_channel(self):
        other, _l1, _p1 = self.make_mailbox(self.user_a)
        gmail, _l2, _p2 = self.make_mailbox(self.user_b, preset="gmail")
        self.assertEqual(self.Mailbox._cron_sync_mailboxes(), 2)
        jobs = self.jobs_of(other | gmail)
        self.assertEqual(len(jobs), 2)
        by_key = {job.identity_key: job for job in jobs}
        self.assertEqual(by_key[SYNC_KEY % other.id].channel, "root.crm_mail.other")
        self.assertEqual(by_key[SYNC_KEY % gmail.id].channel, "root.crm_mail.gmail")
        self.assertEqual(by_key[SYNC_KEY % other.id].name, "Sync mailbox of Alice Seller")
        self.assertEqual(set(jobs.mapped("state")), {"pending"})
        self.assertEqual(set(jobs.mapped("method_name")), {"_crm_job_sync"})
        # Nothing synced inline: the mailboxes are still due, their jobs will sync them.
        self.assertFalse(other.last_sync_date or gmail.last_sync_date)
        # Again while the jobs wait, and while one runs: no second job for either mailbox.
        self.assertEqual(self.Mailbox._cron_sync_mailboxes(), 0)
        by_key[SYNC_KEY % gmail.id].write(
            {"state": "started", "date_started": fields.Datetime.now()}
        )
        self.assertEqual(self.Mailbox._cron_sync_mailboxes(), 0)
        self.assertEqual(len(self.jobs_of(other | gmail)), 2)
        # A job "started" long ago died with its server: it does not block the mailbox.
        by_key[SYNC_KEY % gmail.id].date_started = fields.Datetime.now() - timedelta(hours=1)
        self.assertEqual(self.Mailbox._cron_sync_mailboxes(), 1)
        self.assertEqual(len(self.jobs_of(gmail, states=("pending",))), 1)
        # Done: the mailbox may get a job again when it is due again.
        by_key[SYNC_KEY % other.id].state = "done"
        self.assertEqual(self.Mailbox._cron_sync_mailboxes(), 1)
        self.assertEqual(len(self.jobs_of(other)), 1)

    def test_the_job_is_the_sync_method_on_the_mailbox(self):
        mailbox, _login, _pw = self.make_mailbox(self.user_a, preset="microsoft")
        with trap_jobs() as trap:
            self.Mailbox._cron_sync_mailboxes()
            trap.assert_jobs_count(1, only=mailbox._crm_job_sync)
            trap.assert_enqueued_job(
                mailbox._crm_job_sync,
                properties={
                    "channel": "root.crm_mail.microsoft",
                    "identity_key": SYNC_KEY % mailbox.id,
                    "priority": 10,
                    "description": "Sync mailbox of Alice Seller",
                },
            )

    def test_second_cron_lane_leaves_enqueueing_to_the_first(self):
        mailbox, _login, _pw = self.make_mailbox(self.user_a)
        lane2 = self.env.ref("crm_mail_channel.ir_cron_sync_mailboxes_lane2")
        self.assertEqual(self.Mailbox.with_context(cron_id=lane2.id)._cron_sync_mailboxes(), 0)
        self.assertFalse(self.jobs_of(mailbox))

    def test_push_signal_enqueues_the_pushed_mailbox_at_once(self):
        pushed, _l1, _p1 = self.make_mailbox(self.user_a)
        quiet, _l2, _p2 = self.make_mailbox(self.user_b)
        pushed._sync()
        quiet._sync()
        self.assertFalse(self.Mailbox.search(self.Mailbox._due_mailboxes_domain()) & pushed)
        service = self.Mailbox.sudo()  # sudo: the push service works in superuser mode
        holder = push_lease.make_holder()
        self.assertIn(pushed.id, service._crm_push_refresh(holder, 45))
        service._crm_push_notify([pushed.id])
        job = self.jobs_of(pushed)
        self.assertEqual(len(job), 1)
        self.assertEqual(job.priority, 5)  # ahead of the polled mailboxes
        self.assertFalse(self.jobs_of(quiet))
        # The service asks again each second for a minute: still one job.
        service._crm_push_retrigger()
        service._crm_push_notify([pushed.id])
        self.assertEqual(len(self.jobs_of(pushed)), 1)


@tagged("post_install", "-at_install")
class TestQueueJobRun(QueueJobCommon):
    def test_jobs_import_the_mail_exactly_once(self):
        mailbox_a, login_a, pw_a = self.make_mailbox(self.user_a, preset="gmail")
        mailbox_b, login_b, pw_b = self.make_mailbox(self.user_b)
        shared = make_mail("joe@acme.example", [login_a, login_b], subject="To both")
        self.append(login_a, pw_a, "INBOX", [shared, make_mail("joe@acme.example", login_a)])
        self.append(login_b, pw_b, "INBOX", [shared])
        Email = self.env["crm.email"]
        before = Email.search_count([])
        with trap_jobs() as trap:
            self.Mailbox._cron_sync_mailboxes()
            trap.assert_jobs_count(2)
            trap.perform_enqueued_jobs()
        self.assertEqual(Email.search_count([]) - before, 2)
        self.assertEqual(Email.search_count([("subject", "=", "To both")]), 1)
        self.assertEqual((mailbox_a | mailbox_b).mapped("state"), ["connected", "connected"])
        self.assertEqual(mailbox_a.last_imported, 2)
        # Synced: the cron enqueues nothing, and a late duplicate job does nothing.
        with trap_jobs() as trap:
            self.Mailbox._cron_sync_mailboxes()
            trap.assert_jobs_count(0)
        result = mailbox_a.sudo()._crm_job_sync()  # sudo: as the job runner runs it
        self.assertIn("not due", result)
        # Due again with nothing new on the server: a job runs, imports nothing twice.
        self.make_due(mailbox_a, mailbox_b)
        with trap_jobs() as trap:
            self.Mailbox._cron_sync_mailboxes()
            trap.perform_enqueued_jobs()
        self.assertEqual(Email.search_count([]) - before, 2)
        self.assertEqual(mailbox_a.last_imported, 0)

    def test_a_mailbox_with_more_to_fetch_gets_its_next_job_at_once(self):
        mailbox, login, pw = self.make_mailbox(self.user_a)
        raws = [make_mail("joe@acme.example", login, subject=f"Many {i}") for i in range(130)]
        self.append(login, pw, "INBOX", raws)
        with trap_jobs() as trap:
            # A time budget spent after the first batch, as with a large first sync.
            mailbox.sudo()._crm_job_sync(max_seconds=0.001)  # sudo: as the job runner runs it
            self.assertTrue(mailbox.backlog)
            trap.assert_jobs_count(1, only=mailbox._crm_job_sync)
            trap.assert_enqueued_job(
                mailbox._crm_job_sync, properties={"identity_key": SYNC_KEY % mailbox.id}
            )
            for _round in range(5):
                if not trap.enqueued_jobs:
                    break
                trap.perform_enqueued_jobs()
            self.assertFalse(trap.enqueued_jobs)
            self.assertEqual(len(trap.calls), 1)  # one continuation, none after the last sync
        count = self.env["crm.email"].search_count([("subject", "=like", "Many %")])
        self.assertEqual(count, 130)
        self.assertEqual(mailbox.backlog, 0)

    def test_sync_now_still_syncs_at_once(self):
        mailbox, login, pw = self.make_mailbox(self.user_a)
        self.append(login, pw, "INBOX", [make_mail("joe@acme.example", login, subject="Now")])
        self.Mailbox._cron_sync_mailboxes()
        self.assertEqual(len(self.jobs_of(mailbox)), 1)
        action = mailbox.with_user(self.user_a).action_sync_now()
        self.assertEqual(action["params"]["type"], "success")
        self.assertEqual(self.emails_of(self.user_a, self.joe).subject, "Now")
        # The job enqueued before finds the mailbox synced and does nothing.
        self.assertIn("not due", mailbox.sudo()._crm_job_sync())  # sudo: as the job runner
        self.assertEqual(len(self.emails_of(self.user_a, self.joe)), 1)

    def test_job_runs_the_sync_as_its_owner_only(self):
        mailbox_a, login_a, pw_a = self.make_mailbox(self.user_a)
        mailbox_b, login_b, pw_b = self.make_mailbox(self.user_b)
        self.append(login_a, pw_a, "INBOX", [make_mail("joe@acme.example", login_a, subject="A")])
        self.append(login_b, pw_b, "INBOX", [make_mail("ann@acme.example", login_b, subject="B")])
        with trap_jobs() as trap:
            self.Mailbox._cron_sync_mailboxes()
            jobs = {job.recordset.id: job for job in trap.enqueued_jobs}
            jobs[mailbox_a.id].perform()
        presences = self.env["crm.email.presence"].search([("email_id.subject", "in", ("A", "B"))])
        self.assertEqual(presences.mailbox_id, mailbox_a)
        self.assertEqual(presences.user_id, self.user_a)
        self.assertFalse(mailbox_b.last_sync_date)
        self.assertEqual(self.emails_of(self.user_a, self.joe).subject, "A")


@tagged("post_install", "-at_install")
class TestQueueJobLocked(QueueJobCommon):
    def test_job_of_a_mailbox_syncing_elsewhere_does_nothing(self):
        """A row lock held by another transaction (a "Sync now", a cron worker)."""
        with self.committed_mailbox_locked("FOR NO KEY UPDATE") as (mailbox_id, login, pw, job_cr):
            self.append(login, pw, "INBOX", [make_mail("joe@acme.example", login, subject="Once")])
            job_env = self.env(cr=job_cr)
            mailbox = job_env["crm.mailbox"].sudo().browse(mailbox_id)  # sudo: as the runner
            result = mailbox._crm_job_sync()
            self.assertIn("already syncing", result)
            self.assertFalse(mailbox.last_sync_date)
            self.assertEqual(mailbox.state, "connected")
            self.assertFalse(job_env["crm.email"].search_count([("subject", "=", "Once")]))

    def test_job_of_an_account_syncing_elsewhere_waits(self):
        """Another mailbox on the same account syncs (its sync lock is held elsewhere): the
        job neither connects nor fails, it asks the runner to try again shortly."""
        mailbox, login, pw = self.make_mailbox(self.user_a)
        self.append(login, pw, "INBOX", [make_mail("joe@acme.example", login, subject="Later")])
        account = connection_budget.account_key(mailbox.host, mailbox.login)
        with (
            self.registry.cursor() as other_cr,
            connection_budget.sync_lock(other_cr, account) as mine,
        ):
            self.assertTrue(mine)
            with self.assertRaises(RetryableJobError) as caught:
                mailbox.sudo()._crm_job_sync()  # sudo: as the job runner runs it
        self.assertTrue(caught.exception.ignore_retry)
        self.assertFalse(self.env["crm.email"].search_count([("subject", "=", "Later")]))
        mailbox.sudo()._crm_job_sync()  # sudo: the retry, once the account is free
        self.assertEqual(self.env["crm.email"].search_count([("subject", "=", "Later")]), 1)


@tagged("post_install", "-at_install")
class TestQueueJobAttacks(QueueJobCommon):
    def test_user_cannot_make_or_run_a_sync_job_for_another_mailbox(self):
        mailbox_a, login_a, pw_a = self.make_mailbox(self.user_a)
        self.append(login_a, pw_a, "INBOX", [make_mail("joe@acme.example", login_a)])
        # The job method is private: the RPC dispatcher refuses it by name.
        with self.assertRaises(AccessError):
            check_method_name("_crm_job_sync")
        with self.assertRaises(AccessError):
            check_method_name("_crm_enqueue_syncs")
        # Called in-process for someone else's mailbox (ids forged): refused.
        with self.assertRaises(AccessError):
            mailbox_a.with_user(self.user_b)._crm_job_sync()
        # Jobs themselves: no internal user reads, creates or edits queue.job.
        self.Mailbox._cron_sync_mailboxes()
        job = self.jobs_of(mailbox_a)
        Job = self.Job.with_user(self.user_b)
        with self.assertRaises(AccessError):
            Job.search([("id", "=", job.id)])
        with self.assertRaises(AccessError):
            Job.create(
                {
                    "uuid": "forged",
                    "model_name": "crm.mailbox",
                    "method_name": "_crm_job_sync",
                    "records": mailbox_a,
                    "args": [],
                    "kwargs": {},
                    "state": "pending",
                    "channel": "root.crm_mail.other",
                }
            )
        with self.assertRaises(AccessError):
            job.with_user(self.user_b).write({"priority": 0})
        self.assertFalse(mailbox_a.last_sync_date)
