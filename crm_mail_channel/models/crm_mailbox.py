import logging

from odoo import _, api, fields, models
from odoo.exceptions import UserError

_logger = logging.getLogger(__name__)

PROTOCOLS = [("imap", "IMAP (recommended)"), ("pop3", "POP3")]
SECURITY = [("ssl", "SSL/TLS"), ("starttls", "STARTTLS"), ("none", "None (unencrypted)")]
STATES = [
    ("draft", "Not connected"),
    ("connected", "Connected"),
    ("syncing", "Syncing"),
    ("error", "Error"),
    ("paused", "Paused"),
]


class CrmMailbox(models.Model):
    """A user's own mailbox, synced into CRM."""

    _name = "crm.mailbox"
    _description = "CRM Mailbox"
    _order = "user_id, id"

    name = fields.Char(compute="_compute_name", store=True, readonly=False)
    active = fields.Boolean(default=True)
    user_id = fields.Many2one(
        "res.users", required=True, index=True, ondelete="cascade",
        default=lambda self: self.env.user,
    )
    company_id = fields.Many2one(related="user_id.company_id", store=True)
    protocol = fields.Selection(PROTOCOLS, required=True, default="imap")
    host = fields.Char()
    port = fields.Integer(default=993)
    security = fields.Selection(SECURITY, required=True, default="ssl")
    ssl_verify = fields.Boolean(
        "Verify TLS certificate", default=True,
        help="Leave on. Turn off only for a server with a self-signed certificate you trust.",
    )
    login = fields.Char()
    # Write-only: the value lives in crm.mail.secret, which no user can read.
    password = fields.Char(
        compute="_compute_password", inverse="_inverse_password", store=False, copy=False,
    )
    has_password = fields.Boolean(compute="_compute_password")
    state = fields.Selection(STATES, required=True, default="draft", readonly=True, index=True)
    last_error = fields.Text(readonly=True)
    last_sync_date = fields.Datetime("Last sync attempt", readonly=True)
    last_success_date = fields.Datetime("Last successful sync", readonly=True)
    backlog = fields.Integer(readonly=True, help="Messages known on the server, not imported yet.")
    sync_window_days = fields.Integer(
        "First sync reaches back (days)", default=90, required=True,
    )
    max_message_size_mb = fields.Integer("Largest message imported (MB)", default=25)
    folder_ids = fields.One2many("crm.mailbox.folder", "mailbox_id", readonly=True)
    quarantine_ids = fields.One2many("crm.mailbox.quarantine", "mailbox_id", readonly=True)

    _sql_constraints = [
        ("port_positive", "CHECK(port >= 0 AND port < 65536)", "The port must be 0-65535."),
    ]

    @api.depends("login", "user_id")
    def _compute_name(self):
        for mailbox in self:
            mailbox.name = mailbox.login or mailbox.user_id.name or _("Mailbox")

    def _compute_password(self):
        secrets = self.env["crm.mail.secret"]
        for mailbox in self:
            mailbox.password = False
            mailbox.has_password = bool(
                mailbox.id and secrets._get_secret(mailbox, "password")
            )

    def _inverse_password(self):
        secrets = self.env["crm.mail.secret"]
        for mailbox in self:
            if mailbox.password:
                secrets._set_secret(mailbox, "password", mailbox.password)

    def _get_password(self):
        """Clear-text password, for the sync code only."""
        self.ensure_one()
        return self.env["crm.mail.secret"]._get_secret(self, "password") or ""

    def unlink(self):
        self.env["crm.mail.secret"]._drop_secrets(self)
        return super().unlink()

    def action_test_connection(self):
        raise UserError(_("Not implemented yet."))

    def action_sync_now(self):
        raise UserError(_("Not implemented yet."))
