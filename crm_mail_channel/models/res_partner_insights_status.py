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


class ResPartner(models.Model):
    """Email Insights filters on contacts: emailed and not opened in 3 days, clicked, bounced.

    A company matches through its contacts. Only tracking rows the user may read count, so a
    colleague's private email says nothing through these filters.
    """

    _inherit = "res.partner"

    crm_tracking_ids = fields.One2many(
        "crm.email.tracking", "partner_id", string="Tracked emails received", readonly=True
    )
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
            for partner in self:
                partner[fname] = partner._origin.id in found

    def _crm_insights_domain(self, key, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            raise NotImplementedError(operator)
        tracking = insights_filter_domains()[key]
        domain = [
            "|",
            ("crm_tracking_ids", "any", tracking),
            ("child_ids", "any", [("crm_tracking_ids", "any", tracking)]),
        ]
        positive = (operator == "=") == value
        return domain if positive else ["!", *domain]

    def _search_crm_insights_not_opened(self, operator, value):
        return self._crm_insights_domain("not_opened", operator, value)

    def _search_crm_insights_clicked(self, operator, value):
        return self._crm_insights_domain("clicked", operator, value)

    def _search_crm_insights_bounced(self, operator, value):
        return self._crm_insights_domain("bounced", operator, value)
