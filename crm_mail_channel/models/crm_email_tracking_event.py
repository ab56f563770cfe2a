from odoo import api, fields, models
from odoo.tools import SQL

from .orm_seams import check_access_in_sql

EVENT_TYPES = [("open", "Open"), ("click", "Click"), ("reply", "Reply"), ("bounce", "Bounce")]
PURGE_BATCH_SIZE = 10000
ORIGINS = [
    ("human", "Recipient"),
    ("proxy", "Image proxy"),
    ("prefetch", "Privacy prefetch"),
    ("scanner", "Security scanner"),
    ("self", "Sender"),
]


class CrmEmailTrackingEvent(models.Model):
    """One request on a tracking pixel or link (or a reply or bounce), with its origin.

    Raw events are purged after the retention period (``_gc_crm_tracking_events``); the
    counters on ``crm.email.tracking`` stay. IP addresses are stored truncated (IPv4 /24,
    IPv6 /48). Read access follows the email's body, like the tracking rows.
    """

    _name = "crm.email.tracking.event"
    _inherit = ["crm.mail.write.guard"]
    _description = "CRM Email Tracking Event"
    _order = "event_date desc, id desc"
    _rec_name = "event_type"

    tracking_id = fields.Many2one(
        "crm.email.tracking",
        "Tracking",
        required=True,
        ondelete="cascade",
        index=True,
        auto_join=True,
    )
    partner_id = fields.Many2one(
        related="tracking_id.partner_id", string="Recipient", store=True, index=True
    )
    event_type = fields.Selection(EVENT_TYPES, "Event", required=True)
    event_date = fields.Datetime("Date", required=True, default=fields.Datetime.now, index=True)
    origin = fields.Selection(ORIGINS, "Origin", required=True, default="human")
    reasons = fields.Char("Reasons", help="Why the event was classified so.")
    user_agent = fields.Char("User agent")
    ip_truncated = fields.Char("Network", help="IPv4 /24 or IPv6 /48, never the full address.")
    method = fields.Char("Method")
    url = fields.Char("Link")

    def _check_access(self, operation):
        # Same rules evaluated in SQL, like crm.email.content (reader_keys has no Python form).
        return check_access_in_sql(self, operation, super()._check_access)

    @api.model
    def _crm_purge_old_events(self, batch_size=PURGE_BATCH_SIZE):
        """Purge raw events older than the retention setting (cron); counters stay.

        One batch per call in plain SQL (events have no hooks; the counters live on
        crm.email.tracking); the cron's progress report makes Odoo call again, committing in
        between, while old events remain."""
        days = self.env["crm.email.tracking"]._crm_param_int(
            "crm_mail_channel.insights_retention_days", 100
        )
        if days <= 0:
            return 0
        limit = fields.Datetime.subtract(fields.Datetime.now(), days=days)
        self.flush_model(["event_date"])
        self.env.cr.execute(
            SQL(
                """DELETE FROM crm_email_tracking_event WHERE id IN (
                       SELECT id FROM crm_email_tracking_event WHERE event_date < %s
                        ORDER BY id LIMIT %s)""",
                limit,
                batch_size,
            )
        )
        done = self.env.cr.rowcount
        remaining = 0
        if done >= batch_size:
            self.env.cr.execute(
                SQL("SELECT count(*) FROM crm_email_tracking_event WHERE event_date < %s", limit)
            )
            remaining = self.env.cr.fetchone()[0]
        if done:
            self.invalidate_model()
            self.env["crm.email.tracking"].invalidate_model(["event_ids"])
        self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)
        return done
