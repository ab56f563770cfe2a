from odoo import models


class MailMail(models.Model):
    """Email Insights: a copy the SMTP server accepted is Delivered (until a bounce says no)."""

    _inherit = "mail.mail"

    def _postprocess_sent_message(self, success_pids, failure_reason=False, failure_type=None):
        # Before super(): it deletes mail sent with auto_delete. success_pids are the partners
        # whose copy the server accepted (Odoo sends one copy per recipient).
        if success_pids:
            Tracking = self.env["crm.email.tracking"]
            for mail in self:
                Tracking._crm_mark_delivered(mail, success_pids)
        return super()._postprocess_sent_message(
            success_pids, failure_reason=failure_reason, failure_type=failure_type
        )
