from datetime import timedelta

from odoo import api, fields, models

# "Emailed, not opened in 3 days": a tracked email that long ago still unopened.
NOT_OPENED_DAYS = 3


def insights_filter_domains():
    """Tracking conditions of the contact and deal filters (searched as the user: the
    tracking rows' record rules decide which emails count)."""
    limit = fields.Datetime.now() - timedelta(days=NOT_OPENED_DAYS)
    return {
        "not_opened": [("state", "in", ("sent", "delivered")), ("sent_date", "<=", limit)],
        "clicked": [("click_count", ">", 0), ("state", "!=", "bounced")],
        "bounced": [("state", "=", "bounced")],
    }


class CrmInsightsFilterMixin(models.AbstractModel):
    """Email Insights filters of a record: emailed and not opened in 3 days, clicked, bounced.

    A model says how its records reach tracking rows (``_crm_insights_tracking_domain``).
    Only tracking rows the user may read count, so a colleague's private email says nothing
    through these filters.
    """

    _name = "crm.insights.filter.mixin"
    _description = "CRM Email Insights filters"

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
            for record in self:
                record[fname] = record._origin.id in found

    def _crm_insights_tracking_domain(self, tracking):
        """Domain of the records with a tracking row matching ``tracking``."""
        raise NotImplementedError

    def _crm_insights_domain(self, key, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise NotImplementedError(operator)
        domain = self._crm_insights_tracking_domain(insights_filter_domains()[key])
        positive = (operator == "=") == value
        return domain if positive else ["!", *domain]

    def _search_crm_insights_not_opened(self, operator, value):
        return self._crm_insights_domain("not_opened", operator, value)

    def _search_crm_insights_clicked(self, operator, value):
        return self._crm_insights_domain("clicked", operator, value)

    def _search_crm_insights_bounced(self, operator, value):
        return self._crm_insights_domain("bounced", operator, value)
