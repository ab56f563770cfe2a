from odoo import api, fields, models


class CrmLead(models.Model):
    """Best time to email or call the deal's contact, and a call booked at that time."""

    _inherit = "crm.lead"

    crm_best_email_time = fields.Char(
        "Best time to email", compute="_compute_crm_best_time", compute_sudo=False
    )
    crm_best_call_time = fields.Char(
        "Best time to call", compute="_compute_crm_best_time", compute_sudo=False
    )

    @api.depends("partner_id")
    @api.depends_context("uid")
    def _compute_crm_best_time(self):
        for lead in self:
            partner = lead.partner_id
            if partner and partner.has_access("read"):
                lead.crm_best_email_time = partner.crm_best_email_time
                lead.crm_best_call_time = partner.crm_best_call_time
            else:
                lead.crm_best_email_time = lead.crm_best_call_time = False

    def action_crm_call_at_best_time(self):
        """Schedule a call activity on the deal, with a calendar event, at the contact's next
        best call slot."""
        self.ensure_one()
        return self.env["res.partner"]._crm_schedule_call(self, self.partner_id)
