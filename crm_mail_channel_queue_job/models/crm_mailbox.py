import logging
from datetime import timedelta

from odoo import api, fields, models
from odoo.addons.crm_mail_channel.models.crm_mailbox import MAILBOX_MAX_SECONDS, SYNC_DEFERRED
from odoo.addons.queue_job.exception import RetryableJobError
from odoo.tools import SQL

from crm_mail_channel_core import presets

_logger = logging.getLogger(__name__)

CHANNEL_ROOT = "root.crm_mail"
IDENTITY_PREFIX = "crm_mailbox_sync:"
# A mailbox has no second job while one waits, or runs (queue_job's own identity check
# leaves "started" out: a job already running would get a twin). A job "started" longer ago
# than this died with its server (a sync stops after MAILBOX_MAX_SECONDS): it blocks no more.
WAITING_STATES = ("wait_dependencies", "pending", "enqueued")
STARTED_DEAD_MINUTES = 30
# queue_job runs lower numbers first: a mailbox whose server signalled mail goes first.
PUSH_PRIORITY = 5
POLL_PRIORITY = 10
# Mailboxes enqueued per cron run; the cron runs again at once while more are due.
ENQUEUE_BATCH = 500
# Serialises the enqueuers (the sync cron and push signals, in any Odoo process): two of
# them at once would both find no job for a mailbox and both add one.
ENQUEUE_LOCK = 0x43524D51  # "CRMQ"
SECOND_LANE = "crm_mail_channel.ir_cron_sync_mailboxes_lane2"
# Seconds before a job whose account had no free connection tries again.
DEFERRED_RETRY_SECONDS = 30


class CrmMailbox(models.Model):
    """Syncs as OCA queue jobs, one per mailbox, on its provider's channel.

    The sync cron and push signals enqueue; the job takes the mailbox's row lock and runs
    the same ``_sync`` as the cron path. The job runner's channel capacities bound the
    syncs running against each provider; the row lock keeps one sync per mailbox whatever
    runs it (job, "Sync now", a cron of a database without this addon).
    """

    _inherit = "crm.mailbox"

    # ------------------------------------------------------------------ enqueue
    def _crm_job_channel(self):
        self.ensure_one()
        return f"{CHANNEL_ROOT}.{presets.provider_family(self.preset, self.host)}"

    def _crm_job_identity(self):
        self.ensure_one()
        return f"{IDENTITY_PREFIX}{self.id}"

    @api.model
    def _crm_mailboxes_with_jobs(self):
        """Ids of the mailboxes that have a sync job waiting or running."""
        self.env["queue.job"].flush_model(["identity_key", "state", "date_started"])
        self.env.cr.execute(
            SQL(
                """
                SELECT identity_key FROM queue_job
                 WHERE identity_key LIKE %s
                   AND (state IN %s OR (state = 'started' AND date_started > %s))
                """,
                IDENTITY_PREFIX + "%",
                WAITING_STATES,
                fields.Datetime.now() - timedelta(minutes=STARTED_DEAD_MINUTES),
            )
        )
        prefix = len(IDENTITY_PREFIX)
        return {int(key[prefix:]) for (key,) in self.env.cr.fetchall() if key[prefix:].isdigit()}

    def _crm_delay_sync(self, priority=POLL_PRIORITY):
        self.ensure_one()
        return self.with_delay(
            priority=priority,
            channel=self._crm_job_channel(),
            identity_key=self._crm_job_identity(),
            description=self.env._("Sync mailbox of %s", self.user_id.name),
        )._crm_job_sync()

    def _crm_enqueue_syncs(self, priority=POLL_PRIORITY):
        """One sync job for each mailbox of ``self`` that has none; the mailboxes enqueued.

        Never an RPC entry point (private); callers are the cron and push signals, which
        work in superuser mode.
        """
        self.env.cr.execute(SQL("SELECT pg_try_advisory_xact_lock(%s)", ENQUEUE_LOCK))
        if not self.env.cr.fetchone()[0]:
            # Another enqueuer is at it; what it leaves out stays due for the next one.
            return self.browse()
        busy = self._crm_mailboxes_with_jobs()
        todo = self.filtered(lambda m: m.id not in busy)
        for mailbox in todo:
            mailbox._crm_delay_sync(priority)
        return todo

    @api.model
    def _cron_sync_mailboxes(self, batch_size=None, max_seconds=None):
        """Enqueue the due mailboxes instead of syncing them here. ``batch_size`` and
        ``max_seconds`` belong to the inline path and are ignored."""
        lane2 = self.env.ref(SECOND_LANE, raise_if_not_found=False)
        if lane2 and self.env.context.get("cron_id") == lane2.id:
            return 0  # enqueueing is quick: one lane does it, the channels run the syncs
        # sudo: the scheduled job enqueues every user's due mailbox; each job syncs one
        # mailbox for its owner (_sync).
        Mailbox = self.sudo()
        domain = self._due_mailboxes_domain()
        busy = list(Mailbox._crm_mailboxes_with_jobs())
        if busy:
            domain = [*domain, ("id", "not in", busy)]
        due = Mailbox._crm_due_batch(domain, ENQUEUE_BATCH)
        enqueued = due._crm_enqueue_syncs()
        remaining = max(Mailbox.search_count(domain) - len(due), 0) if enqueued else 0
        self.env["ir.cron"]._notify_progress(done=len(enqueued), remaining=remaining)
        return len(enqueued)

    @api.model
    def _crm_trigger_sync(self):
        """A push signal: enqueue the pushed mailboxes at once, ahead of the polled ones."""
        pushed = self.browse(self._crm_pushed_ids()).exists()
        if pushed:
            # sudo: push signals come from the push service in superuser mode
            # (_crm_push_check); each job syncs one mailbox for its owner.
            pushed.sudo()._crm_enqueue_syncs(priority=PUSH_PRIORITY)

    # ------------------------------------------------------------------ the job
    def _crm_job_sync(self, max_seconds=MAILBOX_MAX_SECONDS):
        """Sync one mailbox under its row lock, as the cron path does for each mailbox."""
        self.ensure_one()
        self._crm_check_owner()
        mailbox = self.exists()
        if not mailbox:
            return "Mailbox deleted: nothing to sync."
        if not mailbox._try_lock():
            # Another sync holds it ("Sync now", a worker of the cron path). What it misses
            # keeps the mailbox due: the next cron run or push signal enqueues it again.
            return "Mailbox already syncing elsewhere: nothing done."
        if not mailbox._crm_is_due():
            return "Mailbox not due any more: nothing done."
        report = mailbox._sync(max_seconds=max_seconds)
        if report == SYNC_DEFERRED:
            # Every connection CRM may open to the account is in use (crm_mailbox_budget.py):
            # this job waits and tries again; not a failure, so no retry is counted.
            raise RetryableJobError(
                "No free connection to the mail account",
                seconds=DEFERRED_RETRY_SECONDS,
                ignore_retry=True,
            )
        if report and report.backlog and mailbox._crm_is_due():
            # More on the server than one job fetches: the next job follows at once. This
            # job is still "started", which queue_job's identity check does not look at.
            mailbox._crm_delay_sync()
        return "Mailbox %s synced: %s imported." % (mailbox.id, mailbox.last_imported)
