from odoo import api, fields, models

from .res_partner_insights_status import insights_filter_domains


class CrmLead(models.Model):
    """Email Insights filters on deals, through the emails linked to the deal.

    Only emails and tracking rows the user may read count (both searched as the user).
    """

    _inherit = "crm.lead"

    crm_insights_not_opened = fields.Boolean(
        "Emailed, not opened in 3 days",
        compute="_compute_crm_insights_filters",
        search="_search_crm_insights_not_opened",
    )
    crm_insights_clicked = fields.Boolean(
        "Clicked a link",
        compute="_compute_crm_insights_filters",
        search="_search_crm_insights_clicked",
    )
    crm_insights_bounced = fields.Boolean(
        "Email bounced",
        compute="_compute_crm_insights_filters",
        search="_search_crm_insights_bounced",
    )

    @api.depends_context("uid")
    def _compute_crm_insights_filters(self):
        real = self._origin.filtered("id")
        for key in insights_filter_domains():
            fname = f"crm_insights_{key}"
            found = set(real.search([("id", "in", real.ids), (fname, "=", True)]).ids)
            for lead in self:
                lead[fname] = lead._origin.id in found

    def _crm_insights_domain(self, key, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise NotImplementedError(operator)
        tracking = insights_filter_domains()[key]
        domain = [("crm_email_ids", "any", [("tracking_ids", "any", tracking)])]
        positive = (operator == "=") == value
        return domain if positive else ["!", *domain]

    def _search_crm_insights_not_opened(self, operator, value):
        return self._crm_insights_domain("not_opened", operator, value)

    def _search_crm_insights_clicked(self, operator, value):
        return self._crm_insights_domain("clicked", operator, value)

    def _search_crm_insights_bounced(self, operator, value):
        return self._crm_insights_domain("bounced", operator, value)
