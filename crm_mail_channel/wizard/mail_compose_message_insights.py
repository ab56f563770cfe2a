from odoo import models

from ..models.crm_email_insights_status import SENDING_TEMPLATE


class MailComposeMessage(models.TransientModel):
    """Template statistics: the template the composer used reaches the recorded email."""

    _inherit = "mail.compose.message"

    def _action_send_mail_comment(self, res_ids):
        # mail.message stores no template: the post hook reads it from this thread-local
        # variable (crm.email._crm_record_sent_message), never from a caller's context.
        token = SENDING_TEMPLATE.set(self.template_id.id or None)
        try:
            return super()._action_send_mail_comment(res_ids)
        finally:
            SENDING_TEMPLATE.reset(token)
