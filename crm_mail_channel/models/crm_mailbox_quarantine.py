from odoo import fields, models


class CrmMailboxQuarantine(models.Model):
    """A message that failed to import, kept with its reason until retried or skipped."""

    _name = "crm.mailbox.quarantine"
    _description = "Quarantined Message"
    _order = "create_date desc, id desc"

    mailbox_id = fields.Many2one("crm.mailbox", required=True, ondelete="cascade", index=True)
    user_id = fields.Many2one(related="mailbox_id.user_id", store=True, index=True)
    folder_id = fields.Many2one("crm.mailbox.folder", ondelete="cascade")
    uid = fields.Integer("Server UID")
    pop_uidl = fields.Char("POP3 UIDL")
    reason = fields.Text(required=True)
    attempts = fields.Integer(default=1)
    state = fields.Selection(
        [("pending", "Waiting"), ("skipped", "Skipped"), ("done", "Imported")],
        default="pending",
        required=True,
        index=True,
    )

    def action_retry(self):
        """Fetch the message again and import it; it stays here if it still fails."""
        for mailbox in self.mailbox_id:
            mailbox._retry_quarantined(self.filtered(lambda q, m=mailbox: q.mailbox_id == m))

    def action_skip(self):
        self.sudo().write({"state": "skipped"})
