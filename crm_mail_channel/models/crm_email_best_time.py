from odoo import fields, models


class CrmEmail(models.Model):
    """What the best-time profile needs from synced mail beyond its UTC date."""

    _inherit = "crm.email"

    # Minutes east of UTC in the sender's Date header, as text ("330", "-300"); empty when the
    # header had none. The wall-clock hour there is the sender's own (see
    # crm_mail_channel_core.best_time.infer_timezone).
    crm_date_utc_offset = fields.Char("Date header UTC offset", readonly=True)
