from odoo import fields, models


class ResPartner(models.Model):
    _inherit = "res.partner"

    crm_email_count = fields.Integer("Emails", compute="_compute_crm_email_count")

    def _crm_email_domain(self):
        """Emails of this contact, or of all contacts of this company."""
        self.ensure_one()
        return [("partner_ids", "child_of", self.commercial_partner_id.id)] if (
            self.is_company
        ) else [("partner_ids", "in", self.ids)]

    def _compute_crm_email_count(self):
        emails = self.env["crm.email"]
        for partner in self:
            partner.crm_email_count = (
                emails.search_count(partner._crm_email_domain()) if partner.id else 0
            )
