import logging
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.osv import expression
from odoo.tools import SQL

from crm_mail_channel_core import push_lease
from crm_mail_channel_core.push_sql import PUSH_STATES, SYNC_CRONS, WATCHED_STATES

_logger = logging.getLogger(__name__)

# Which mailboxes a push service watches, which a signal syncs, the sync crons it wakes: the
# same for the registry-free push service (crm_mail_channel_core.push_sql).
# Backoff after a throttling answer: doubled each time, capped (minutes).
THROTTLE_FIRST_MINUTES = 5
THROTTLE_MAX_MINUTES = 120


class CrmMailbox(models.Model):
    """Push (IMAP IDLE) and throttling on the sync side.

    The push service (``crm_mail_push`` command, crm_mail_channel/cli) calls the
    ``_crm_push_*`` methods below, always in superuser mode from its own process: which
    mailboxes to watch, their settings, and "this mailbox has new mail". The latter stamps
    the mailbox's lease row (``pushed_at``) and wakes the sync cron, which syncs pushed
    mailboxes first; the sync stamps ``push_synced_at`` when it starts, so a signal received
    during a sync makes the mailbox due again. The sync contract (cron, ``_try_lock``,
    ``_sync``) is unchanged.

    A throttling answer (``errors.Throttled``) in a sync does not put the mailbox in error:
    it waits ``throttled_until`` (growing backoff) with the server's words as its last error.
    """

    _inherit = "crm.mailbox"

    push_synced_at = fields.Datetime(
        "Last sync start (push)", readonly=True, copy=False, help="Database clock."
    )
    throttled_until = fields.Datetime(
        "Slowed down until",
        readonly=True,
        copy=False,
        help="The server asked CRM to slow down: no sync before this time.",
    )
    throttle_count = fields.Integer("Throttling answers in a row", readonly=True, copy=False)
    push_status = fields.Char("Push", compute="_compute_push_status")

    throttle_reason = fields.Char(
        "Throttling answer", readonly=True, copy=False, help="What the server said, word for word."
    )
    throttle_status = fields.Char("Throttling", compute="_compute_throttle_status")

    def _compute_push_status(self):
        # sudo: lease rows have no access rights; only a status label of a mailbox the user
        # already reads (crm.mailbox rules) is shown.
        leases = self.env["crm.mailbox.lease"].sudo().search([("mailbox_id", "in", self.ids)])
        by_mailbox = {lease.mailbox_id.id: lease for lease in leases if lease.holder}
        for mailbox in self:
            mailbox.push_status = mailbox._crm_push_status_text(by_mailbox.get(mailbox._origin.id))

    def _crm_push_status_text(self, lease):
        """How new mail reaches CRM: watched by a push service, polled by the cron, or why not."""
        if self.protocol not in ("imap", "pop3"):
            return False  # no server (dropbox)
        not_watched = {
            "draft": self.env._("Not watched: not connected yet"),
            "paused": self.env._("Not watched: paused"),
            "needs_reconnect": self.env._("Not watched: needs reconnecting"),
            "error": self.env._("Not watched: the last sync failed (retried every few minutes)"),
        }
        if self.state in not_watched:
            return not_watched[self.state]
        if self.protocol == "pop3":
            return self.env._("Polling: POP3 has no push (checked every few minutes)")
        status, note = (lease.push_status, lease.push_note) if lease else (False, False)
        if not status:
            return self.env._("Polling: no push service is running (checked every few minutes)")
        service, why = lease.holder, f" ({note})" if note else ""
        labels = {
            "watching": self.env._("Watched (IDLE) by %(service)s", service=service),
            "connecting": self.env._("Connecting (IDLE) from %(service)s", service=service),
            "waiting": self.env._("Waiting for a free connection"),
            "backoff": self.env._("Not watched: reconnecting%(why)s", why=why),
            "throttled": self.env._("Not watched: throttled by the server%(why)s", why=why),
            "polling": self.env._(
                "Polling: %(why)s", why=note or self.env._("checked every few minutes")
            ),
            "stopped": self.env._("Not watched: no usable password or sign-in"),
        }
        return labels.get(status, status)

    @api.depends_context("tz")
    @api.depends("throttled_until", "throttle_reason")
    def _compute_throttle_status(self):
        now = fields.Datetime.now()
        for mailbox in self:
            until = mailbox.throttled_until
            if until and until > now:
                local = fields.Datetime.context_timestamp(mailbox, until)
                mailbox.throttle_status = self.env._(
                    "Throttled by the server until %(time)s: %(reason)s",
                    time=local.strftime("%H:%M"),
                    reason=mailbox.throttle_reason or self.env._("no reason given"),
                )
            else:
                mailbox.throttle_status = False

    # ------------------------------------------------------------------ sync side
    def _sync(self, max_seconds=None):
        self.ensure_one()
        # Database clock, like pushed_at: a signal after this instant makes the mailbox due.
        self.env.cr.execute(
            SQL(
                "UPDATE crm_mailbox SET push_synced_at = clock_timestamp() AT TIME ZONE 'UTC' "
                "WHERE id = %s",
                self.id,
            )
        )
        self.invalidate_recordset(["push_synced_at"])
        throttles = self.throttle_count
        report = super()._sync(max_seconds=max_seconds)
        if throttles and self.throttle_count == throttles and self.state == "connected":
            # sudo: _sync runs for the cron or the owner ("Sync now"); it resets its own state.
            self.sudo().write(
                {"throttle_count": 0, "throttled_until": False, "throttle_reason": False}
            )
        return report

    def _crm_back_off(self, exc):
        """The server throttled this sync: wait, say why, and do not count it as a failure."""
        self.ensure_one()
        count = self.throttle_count + 1
        minutes = min(THROTTLE_FIRST_MINUTES * 2 ** (count - 1), THROTTLE_MAX_MINUTES)
        until = fields.Datetime.now() + timedelta(minutes=minutes)
        _logger.info("Mailbox %s throttled, next sync after %s: %s", self.id, until, exc.detail)
        # sudo: called by _sync, which already works for the cron or the owner.
        self.sudo().write(
            {
                "state": "connected",
                "last_error": self.env._(
                    "%(reason)s Next try after %(when)s (UTC).",
                    reason=exc.user_message,
                    when=fields.Datetime.to_string(until)[:16],
                ),
                "throttled_until": until,
                "throttle_count": count,
                "throttle_reason": (exc.detail or exc.user_message or "")[:500],
            }
        )

    @api.model
    def _crm_pushed_ids(self):
        """Mailboxes whose server signalled mail since their last sync started."""
        self.flush_model(["active", "state", "throttled_until", "push_synced_at"])
        return push_lease.pushed_ids(self.env.cr, PUSH_STATES)

    @api.model
    def _due_mailboxes_domain(self):
        domain = expression.AND(
            [
                super()._due_mailboxes_domain(),
                [
                    "|",
                    ("throttled_until", "=", False),
                    ("throttled_until", "<", fields.Datetime.now()),
                ],
            ]
        )
        pushed = self._crm_pushed_ids()
        return expression.OR([domain, [("id", "in", pushed)]]) if pushed else domain

    @api.model
    def _crm_due_batch(self, domain, limit):
        """Mailboxes whose server signalled new mail go first, then the polled ones."""
        pushed = self.browse(self._crm_pushed_ids()[:limit]).exists()
        rest = limit - len(pushed)
        if rest <= 0:
            return pushed
        return pushed | super()._crm_due_batch(
            expression.AND([domain, [("id", "not in", pushed.ids)]]), rest
        )

    @api.model
    def _cron_sync_mailboxes(self, *args, **kwargs):
        done = super()._cron_sync_mailboxes(*args, **kwargs)
        cron_id = self.env.context.get("cron_id")
        if done and cron_id and self.search_count(self._due_mailboxes_domain(), limit=1):
            # More is due: wake a cron thread again right away. Odoo leaves a job that
            # reported remaining work "ready", but its threads only look again on a
            # notification or after a minute of sleep.
            self.env["ir.cron"].browse(cron_id)._trigger()
        return done

    # ------------------------------------------------------------------ push service side
    @api.model
    def _crm_push_candidates(self):
        """``{mailbox_id: version}`` of every mailbox some push service should watch."""
        self.flush_model()
        self.env["crm.mail.secret"].flush_model()
        return push_lease.candidates(self.env.cr, WATCHED_STATES)

    @api.model
    def _crm_push_refresh(self, holder, lease_seconds):
        """Renew ``holder``'s leases; ``{mailbox_id: version}`` of the mailboxes it watches."""
        self._crm_push_check()
        candidates = self._crm_push_candidates()
        mine = push_lease.refresh_leases(self.env.cr, holder, candidates, lease_seconds)
        return {mailbox_id: candidates[mailbox_id] for mailbox_id in mine}

    @api.model
    def _crm_push_settings(self, mailbox_id):
        """Connection settings for watching one mailbox (a fresh OAuth token), or None."""
        self._crm_push_check()
        mailbox = self.browse(mailbox_id).exists()
        if not mailbox or mailbox.id not in self._crm_push_candidates():
            return None
        try:
            return mailbox._mailbox_settings(timeout=30)
        except UserError as exc:
            # No password, sign-in withdrawn...: the sync reports it on the mailbox.
            _logger.info("Push: mailbox %s not watched: %s", mailbox_id, exc)
            return None

    @api.model
    def _crm_push_notify(self, mailbox_ids):
        """The servers of these mailboxes signalled new or changed mail: sync them now."""
        self._crm_push_check()
        push_lease.mark_pushed(self.env.cr, mailbox_ids)
        self._crm_trigger_sync()

    @api.model
    def _crm_push_retrigger(self):
        """Wake the cron again while pushed mailboxes wait (a trigger received while the cron
        was running may be consumed by that run)."""
        if self._crm_pushed_ids():
            self._crm_trigger_sync()

    @api.model
    def _crm_trigger_sync(self):
        """Wake the sync jobs (every lane: a burst of signals is synced in parallel)."""
        for xmlid in SYNC_CRONS:
            cron = self.env.ref(xmlid, raise_if_not_found=False)
            if cron and cron.active:
                cron._trigger()

    @api.model
    def _crm_push_report(self, holder, statuses):
        self._crm_push_check()
        push_lease.report_status(self.env.cr, holder, statuses)

    @api.model
    def _crm_push_release(self, holder):
        self._crm_push_check()
        push_lease.release_leases(self.env.cr, holder)

    @api.model
    def _crm_push_check(self):
        """The push service works in superuser mode only; never an RPC entry point."""
        if not self.env.su:
            raise UserError(self.env._("Only the push service may do this."))
