from odoo import fields, models


class CrmEmailTrackingEvent(models.Model):
    """Replies and bounces as tracking events (see crm_email_tracking_status.py)."""

    _inherit = "crm.email.tracking.event"

    # A bounce is reported by the mail system, neither the recipient nor a machine reading.
    origin = fields.Selection(
        selection_add=[("system", "Mail system")], ondelete={"system": "cascade"}
    )
    source_message_id = fields.Char(
        "Evidence Message-ID",
        index=True,
        groups="base.group_system",
        help="Message-ID of the reply or delivery report behind this event (one event each).",
    )
