from odoo import models


class MailThread(models.AbstractModel):
    """Email Insights: bounces Odoo's gateway receives through an alias domain's bounce
    address mark the tracked copy they are about Bounced (matched by the sent Message-ID)."""

    _inherit = "mail.thread"

    def _routing_handle_bounce(self, email_message, message_dict):
        result = super()._routing_handle_bounce(email_message, message_dict)
        self.env["crm.email.tracking"]._crm_bounce_from_routing(email_message, message_dict)
        return result
