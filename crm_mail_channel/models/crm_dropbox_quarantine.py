import base64

from odoo import models

from .crm_dropbox_import import RAW_ATTACHMENT_NAME


class CrmMailboxQuarantine(models.Model):
    """Retry of dropbox mail: a dropbox has no server to fetch from again, so the message
    that failed is kept with its quarantine row (an attachment readable by its owner only,
    through the quarantine's rules) and stored again from there."""

    _inherit = "crm.mailbox.quarantine"

    def _crm_retry(self, mailbox):
        if mailbox.protocol != "dropbox":
            return super()._crm_retry(mailbox)
        # sudo: owner checked by the caller (action_retry); the rows are written by the import.
        quarantines = self.sudo().filtered(lambda q: q.state == "pending")
        Attachment = self.env["ir.attachment"].sudo()  # sudo: the same rows' kept message.
        for quarantine in quarantines:
            kept = Attachment.search(
                [
                    ("res_model", "=", "crm.mailbox.quarantine"),
                    ("res_id", "=", quarantine.id),
                    ("name", "=", RAW_ATTACHMENT_NAME),
                ],
                limit=1,
            )
            if not kept:
                quarantine.write({"state": "skipped", "reason": self.env._("Nothing kept.")})
                continue
            raw = base64.b64decode(kept.datas or b"")
            mailbox._crm_dropbox_store([raw], uids=[quarantine.uid])
