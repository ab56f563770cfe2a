from odoo import api, fields, models


class CrmEmail(models.Model):
    """Email Insights on the email: whether it was sent tracked, and its tracking rows.

    The tracking rows are read as the current user, so their record rules (the body's) decide
    who sees them; the email's body and fingerprint stay the untracked version.
    """

    _inherit = "crm.email"

    insights_tracked = fields.Boolean(
        "Tracked",
        readonly=True,
        help="Sent from CRM with Email Insights on and the composer's Track box ticked.",
    )
    tracking_ids = fields.One2many(
        "crm.email.tracking", "email_id", string="Insights", readonly=True
    )

    @api.model
    def _crm_record_sent_message(self, record, message):
        email = super()._crm_record_sent_message(record, message)
        if email:
            tracked = self.env["crm.email.tracking"]._crm_insights_enabled() and bool(
                self.env.context.get("crm_mail_channel_track", True)
            )
            # sudo: the row just recorded for the current user's own post.
            email.sudo().insights_tracked = tracked
        return email
