from odoo import fields, models


class ResPartner(models.Model):
    """Email Insights filters on contacts; a company matches through its contacts."""

    _name = "res.partner"
    _inherit = ["res.partner", "crm.insights.filter.mixin"]

    crm_tracking_ids = fields.One2many(
        "crm.email.tracking", "partner_id", string="Tracked emails received", readonly=True
    )

    def _crm_insights_tracking_domain(self, tracking):
        return [
            "|",
            ("crm_tracking_ids", "any", tracking),
            ("child_ids", "any", [("crm_tracking_ids", "any", tracking)]),
        ]
