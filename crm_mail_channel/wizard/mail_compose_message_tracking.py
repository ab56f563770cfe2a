from odoo import fields, models


class MailComposeMessage(models.TransientModel):
    """The composer's "Track" box (Email Insights), on by default when insights are on."""

    _inherit = "mail.compose.message"

    crm_track = fields.Boolean(
        "Track",
        default=lambda self: self.env["crm.email.tracking"]._crm_insights_enabled(),
        help="Count opens and clicks of each outside recipient (a tracking pixel and tracked "
        "links in their copy). Colleagues' copies and the copy kept in CRM are never tracked.",
    )
    crm_insights_enabled = fields.Boolean(
        "Email Insights on",
        default=lambda self: self.env["crm.email.tracking"]._crm_insights_enabled(),
    )

    def _action_send_mail_comment(self, res_ids):
        # Read when the post records its crm.email (crm.email._crm_record_sent_message): it
        # can only switch tracking off, never on when the organisation switched it off.
        composer = self.with_context(crm_mail_channel_track=bool(self.crm_track))
        return super(MailComposeMessage, composer)._action_send_mail_comment(res_ids)
