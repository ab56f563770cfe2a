from odoo import fields, models


class ResPartner(models.Model):
    _inherit = "res.partner"

    crm_do_not_track = fields.Boolean(
        "Do not track",
        help="Email Insights: mail sent from CRM to this contact carries no tracking pixel "
        "and no tracked links.",
    )
