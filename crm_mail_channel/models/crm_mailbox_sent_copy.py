from odoo import fields, models


class CrmMailbox(models.Model):
    """Copies of mail sent from CRM, stored in the owner's Sent folder on the server
    (the queue itself is crm.mailbox.pending.append)."""

    _inherit = "crm.mailbox"

    # Setting
    store_sent_on_server = fields.Boolean(
        "Store sent messages on the server",
        default=True,
        help="Mail you send from CRM leaves through Odoo's outgoing server, so your provider "
        "does not see it and your Sent folder stays empty unless CRM stores a copy there. "
        "Leave this on for most providers (IMAP servers, cPanel/Plesk hosting, Zoho, Yahoo, "
        "iCloud, and Gmail or Microsoft 365 when Odoo sends through another SMTP server). "
        "Gmail and Microsoft 365 store a copy themselves when mail leaves through their own "
        'server with this same account ("Send through my own account"): this is then '
        "turned off, and CRM stores no copy of such mail even when it is on. "
        "To check: send yourself one message from CRM and look in Sent in your mail "
        "program. Two copies there: turn this off. None: turn it on.",
    )
    # Copies that could not be stored yet
    pending_append_ids = fields.One2many(
        "crm.mailbox.pending.append",
        "mailbox_id",
        readonly=True,
        domain=[("state", "=", "failed")],
    )
    sent_copy_failed_count = fields.Integer(
        "Sent copies waiting",
        compute="_compute_sent_copy_failed",
    )
    sent_copy_error = fields.Text("Sent copy problem", compute="_compute_sent_copy_failed")

    def _compute_sent_copy_failed(self):
        # sudo: counts and the last error of mailboxes the user already reads (their rules).
        Pending = self.env["crm.mailbox.pending.append"].sudo()
        failed = Pending.search(
            [("mailbox_id", "in", self.ids), ("state", "=", "failed")],
            order="id desc",
        )
        for mailbox in self:
            mine = failed.filtered(lambda p, m=mailbox: p.mailbox_id.id == m.id)
            mailbox.sent_copy_failed_count = len(mine)
            mailbox.sent_copy_error = mine[:1].last_error or False

    def action_retry_sent_copies(self):
        """Store again the sent mail whose copy could not reach the Sent folder."""
        self._crm_check_owner()
        # sudo: owner checked by _crm_check_owner() above; the queue has no write access.
        Pending = self.env["crm.mailbox.pending.append"].sudo()
        Pending.search(
            [("mailbox_id", "in", self.ids), ("state", "=", "failed"), ("raw", "!=", False)]
        )._crm_append()
        return True
