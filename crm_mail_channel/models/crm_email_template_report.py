from odoo import fields, models, tools
from odoo.tools import SQL


class CrmEmailTemplateReport(models.Model):
    """Template statistics: one row per mail template used from CRM, over every recipient.

    Counts come from the tracking rows (one per email and outside recipient), which keep
    their counters after raw events are purged. Opens and clicks are the recipient's own
    (and image proxies'); machine opens and clicks are counted apart. Rates are over the
    copies not bounced (bounce rate: over all sent).

    Managers only (access rights): a row adds up every user's mail, private mail included,
    and shows no email, recipient or sender, only counts per template.
    """

    _name = "crm.email.template.report"
    _description = "Email Template Statistics"
    _auto = False
    _rec_name = "template_id"
    _order = "reply_rate desc, open_rate desc, sent_count desc, id"

    template_id = fields.Many2one("mail.template", "Template", readonly=True)
    sent_count = fields.Integer("Sent", readonly=True)
    delivered_count = fields.Integer(
        "Delivered", readonly=True, help="Accepted by the server (or opened), not bounced."
    )
    opened_count = fields.Integer("Opened", readonly=True, help="Recipients who opened.")
    human_open_count = fields.Integer("Opens", readonly=True, help="Opens by the recipients.")
    clicked_count = fields.Integer("Clicked", readonly=True, help="Recipients who clicked.")
    click_count = fields.Integer("Clicks", readonly=True, help="Clicks by the recipients.")
    replied_count = fields.Integer("Replied", readonly=True)
    bounced_count = fields.Integer("Bounced", readonly=True)
    machine_open_count = fields.Integer(
        "Machine opens", readonly=True, help="Privacy prefetchers and scanners, ignored above."
    )
    machine_click_count = fields.Integer(
        "Machine clicks", readonly=True, help="Security scanners, ignored above."
    )
    open_rate = fields.Float("Open rate (%)", readonly=True, aggregator="avg", digits=(16, 1))
    click_rate = fields.Float("Click rate (%)", readonly=True, aggregator="avg", digits=(16, 1))
    reply_rate = fields.Float("Reply rate (%)", readonly=True, aggregator="avg", digits=(16, 1))
    bounce_rate = fields.Float("Bounce rate (%)", readonly=True, aggregator="avg", digits=(16, 1))
    last_sent_date = fields.Datetime("Last sent", readonly=True)

    def init(self):
        tools.drop_view_if_exists(self.env.cr, self._table)
        self.env.cr.execute(
            SQL(
                """
                CREATE VIEW %(table)s AS (
                    SELECT s.template_id AS id, s.*,
                           coalesce(round(100.0 * s.opened_count / NULLIF(s.kept, 0), 1), 0)
                               AS open_rate,
                           coalesce(round(100.0 * s.clicked_count / NULLIF(s.kept, 0), 1), 0)
                               AS click_rate,
                           coalesce(round(100.0 * s.replied_count / NULLIF(s.kept, 0), 1), 0)
                               AS reply_rate,
                           coalesce(round(100.0 * s.bounced_count / NULLIF(s.sent_count, 0), 1), 0)
                               AS bounce_rate
                      FROM (
                        SELECT e.crm_template_id AS template_id,
                               count(t.id) AS sent_count,
                               count(t.id) FILTER (WHERE t.state != 'bounced') AS kept,
                               count(t.id) FILTER (WHERE t.state NOT IN ('sent', 'bounced'))
                                   AS delivered_count,
                               count(t.id) FILTER (WHERE t.open_count > 0) AS opened_count,
                               coalesce(sum(t.open_count), 0) AS human_open_count,
                               count(t.id) FILTER (WHERE t.click_count > 0) AS clicked_count,
                               coalesce(sum(t.click_count), 0) AS click_count,
                               count(t.id) FILTER (WHERE t.state = 'replied') AS replied_count,
                               count(t.id) FILTER (WHERE t.state = 'bounced') AS bounced_count,
                               coalesce(sum(t.machine_open_count), 0) AS machine_open_count,
                               coalesce(sum(t.machine_click_count), 0) AS machine_click_count,
                               max(t.sent_date) AS last_sent_date
                          FROM crm_email_tracking t
                          JOIN crm_email e ON e.id = t.email_id
                         WHERE e.crm_template_id IS NOT NULL
                         GROUP BY e.crm_template_id
                      ) s
                )
                """,
                table=SQL.identifier(self._table),
            )
        )
