from odoo import fields, models


class CrmMailboxLease(models.Model):
    """Which push service watches a mailbox, and what the mailbox's server last signalled.

    Written by the push service (``crm_mail_push`` command) through
    ``crm_mail_channel_core.push_lease`` in plain SQL; read by the sync cron (``pushed_at``)
    and the mailbox form (``push_status``). One row per mailbox that was ever watched: a
    released lease keeps its row, so a signal received just before a hand-over is not lost.
    """

    _name = "crm.mailbox.lease"
    _description = "CRM Mailbox Push Lease"
    _log_access = False

    mailbox_id = fields.Many2one("crm.mailbox", required=True, ondelete="cascade")
    # The lease
    holder = fields.Char(help="Push service holding the lease (host-pid-random).")
    expires_at = fields.Datetime(help="The lease is free after this unless renewed.")
    # What the server signalled, and how watching goes
    pushed_at = fields.Datetime(help="Last time the server signalled new or changed mail.")
    push_status = fields.Char()
    push_note = fields.Char()

    _sql_constraints = [
        ("mailbox_unique", "unique(mailbox_id)", "One push lease per mailbox."),
    ]
