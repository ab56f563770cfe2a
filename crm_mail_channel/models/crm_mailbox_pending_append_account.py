from odoo import api, models

from .crm_mailbox_smtp import SENT_BY_PROVIDER


class CrmMailboxPendingAppend(models.Model):
    """Mail sent through the owner's own Gmail or Microsoft account: that provider keeps
    the copy in Sent itself, so CRM appends none (the sync then claims the provider's copy
    as the same email)."""

    _inherit = "crm.mailbox.pending.append"

    @api.model
    def _crm_waiting(self, message_id):
        waiting = super()._crm_waiting(message_id)
        mailbox_id = SENT_BY_PROVIDER.get()
        if mailbox_id:
            waiting = waiting.filtered(lambda p: p.mailbox_id.id != mailbox_id)
        return waiting
