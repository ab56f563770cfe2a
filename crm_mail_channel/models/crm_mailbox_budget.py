import contextlib
import logging

from odoo import fields, models

from crm_mail_channel_core import connection_budget

from .crm_mailbox import SYNC_DEFERRED

_logger = logging.getLogger(__name__)


class CrmMailbox(models.Model):
    """One connection budget per mail account (crm_mail_channel_core.connection_budget).

    Every connection CRM opens to a mailbox's server (sync, copies to Sent, SalesInbox's live
    column, read states, quarantine retries, Test connection; the push service's IDLE in
    crm_mail_channel_core.push_budget) first takes a slot of the account's budget: a
    PostgreSQL advisory lock on this transaction's connection, given back when the connection
    closes. Mailboxes on the same server and login share the slots, and sync one at a time.
    With no slot free the caller does not connect: the sync stays due (not an error), a copy
    to Sent stays pending.
    """

    _inherit = "crm.mailbox"

    connection_usage = fields.Char(
        "Connections in use",
        compute="_compute_connection_usage",
        help="Connections CRM holds to this mail account now, out of the most it may hold "
        "(system parameter crm_mail_channel.connection_budget). Your phone and desktop "
        "clients use the rest of what your provider allows.",
    )

    def _crm_account_key(self):
        self.ensure_one()
        return connection_budget.account_key(self.host, self.login)

    def _crm_connection_budget(self):
        self.ensure_one()
        # sudo: a system parameter anyone's connection follows; only its number is read.
        override = self.env["ir.config_parameter"].sudo().get_param(connection_budget.PARAMETER)
        return connection_budget.budget_for(self.host, override)

    def _crm_has_account(self):
        return bool(self.host and self.login and self.protocol in ("imap", "pop3"))

    @contextlib.contextmanager
    def _crm_connection_slot(self):
        """``with mailbox._crm_connection_slot() as free:`` connect only when ``free``."""
        self.ensure_one()
        if not self._crm_has_account():
            yield True  # nothing to connect to: the caller's own check says why
            return
        account, budget = self._crm_account_key(), self._crm_connection_budget()
        with connection_budget.hold(self.env.cr, account, budget) as slot:
            yield slot is not None

    def _crm_busy_message(self):
        return self.env._(
            "Your mailbox is busy: every connection CRM may open to it is in use right now "
            "(push, sync, copies to Sent). Try again in a moment."
        )

    def _compute_connection_usage(self):
        accounts = {}
        for mailbox in self:
            if mailbox._crm_has_account():
                accounts[mailbox._crm_account_key()] = mailbox._crm_connection_budget()
        used = connection_budget.in_use(self.env.cr, accounts)
        for mailbox in self:
            if mailbox._crm_has_account():
                account = mailbox._crm_account_key()
                mailbox.connection_usage = self.env._(
                    "%(used)s of %(budget)s", used=used[account], budget=accounts[account]
                )
            else:
                mailbox.connection_usage = False

    # ------------------------------------------------------------------ sync
    def _sync(self, max_seconds=None):
        """One sync per account at a time, and only with a free connection: otherwise the
        mailbox is left as it is (still due, not in error) for the next run."""
        self.ensure_one()
        if not self._crm_has_account():
            return super()._sync(max_seconds=max_seconds)
        account = self._crm_account_key()
        with connection_budget.sync_lock(self.env.cr, account) as mine:
            if not mine:
                _logger.info("Mailbox %s: its account is syncing already; next run", self.id)
                return SYNC_DEFERRED
            with self._crm_connection_slot() as free:
                if not free:
                    _logger.info("Mailbox %s: no free connection to its account; next run", self.id)
                    return SYNC_DEFERRED
                return super()._sync(max_seconds=max_seconds)

    def _crm_try_connection(self):
        self.ensure_one()
        with self._crm_connection_slot() as free:
            if not free:
                return False, self._crm_busy_message()
            return super()._crm_try_connection()

    def _push_seen(self, presences):
        self.ensure_one()
        with self._crm_connection_slot() as free:
            if not free:
                return  # seen_pending stays: the next sync pushes it
            return super()._push_seen(presences)
