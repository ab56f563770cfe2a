from odoo import api, fields, models
from odoo.exceptions import UserError


class MailComposeMessage(models.TransientModel):
    """ "Send at the best time": schedule the mail for the contact's next best slot (7 days).

    Uses Odoo's own "Send later" (``action_schedule_message`` → ``mail.scheduled.message``);
    for both, the composer's template goes along in the ``crm_scheduled_template_id`` context
    key and is kept on the scheduled message (``crm_template_id``).
    """

    _inherit = "mail.compose.message"

    crm_best_time_label = fields.Char("Best time to send", compute="_compute_crm_best_time_label")

    def _crm_best_time_partner(self):
        """The contact whose best time counts: the first outside recipient, else the contact
        (or the deal's contact) written from."""
        self.ensure_one()
        record = self._crm_record()
        if record is None:
            return self.env["res.partner"]
        outside = self.partner_ids._origin.filtered(lambda p: not p.user_ids or p.partner_share)
        if outside:
            return outside[:1]
        return record if record._name == "res.partner" else record.partner_id._origin

    @api.depends("partner_ids", "model", "res_ids", "composition_mode")
    @api.depends_context("uid")
    def _compute_crm_best_time_label(self):
        for composer in self:
            composer.crm_best_time_label = False
            if not composer._crm_is_crm_composer() or composer.subtype_is_log:
                continue
            partner = composer._crm_best_time_partner()
            if not partner or not partner.has_access("read"):
                continue
            when = partner._crm_next_best_slot("email")
            composer.crm_best_time_label = self.env._(
                "Best time for %(name)s: %(when)s (your time)",
                name=partner.display_name,
                when=fields.Datetime.context_timestamp(self, when).strftime("%a %Y-%m-%d %H:%M"),
            )

    def action_schedule_message(self, scheduled_date=False):
        # Odoo's "Send later" too: the template goes to the scheduled message (never a
        # caller's context value: only this composer's own template).
        template_id = self.template_id.id if len(self) == 1 else False
        composer = self.with_context(crm_scheduled_template_id=template_id or False)
        return super(MailComposeMessage, composer).action_schedule_message(scheduled_date)

    def action_crm_send_at_best_time(self):
        """Schedule this mail for the contact's next best slot within 7 days."""
        self.ensure_one()
        if not self._crm_is_crm_composer() or self.subtype_is_log:
            raise UserError(
                self.env._(
                    "Only an email written on a contact or a deal can be sent at the "
                    "contact's best time."
                )
            )
        if self.crm_cc_partner_ids or self.crm_bcc_partner_ids:
            # A scheduled message keeps only the recipients in To.
            raise UserError(
                self.env._(
                    "A scheduled email cannot keep Cc or Bcc recipients: send it now, or "
                    "put them in To."
                )
            )
        partner = self._crm_best_time_partner()
        if not partner:
            raise UserError(self.env._("Add a recipient first."))
        when = partner._crm_next_best_slot("email")
        return self.action_schedule_message(scheduled_date=fields.Datetime.to_string(when))
