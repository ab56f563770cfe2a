from odoo import models


class CrmLead(models.Model):
    """Email Insights filters on deals, through the emails linked to the deal."""

    _name = "crm.lead"
    _inherit = ["crm.lead", "crm.insights.filter.mixin"]

    def _crm_insights_tracking_domain(self, tracking):
        return [("crm_email_ids", "any", [("tracking_ids", "any", tracking)])]
