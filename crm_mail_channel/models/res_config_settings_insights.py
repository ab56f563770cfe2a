from odoo import api, fields, models

from .crm_email_tracking import PARAM_ENABLED, PARAM_MACHINE_WINDOW, PARAM_RETENTION


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    # Stored as "True"/"False" (a config_parameter Boolean would delete the parameter when
    # off, and the default "on" would come back).
    crm_insights_enabled = fields.Boolean(
        "Email Insights",
        help="Mail sent from CRM carries a tracking pixel and tracked links per external "
        "recipient. Off: no pixel and no rewritten link anywhere.",
    )
    crm_insights_machine_window = fields.Integer(
        "Machine-open window (seconds)",
        default=10,
        config_parameter=PARAM_MACHINE_WINDOW,
        help="Opens and clicks this soon after sending are counted as security scanners.",
    )
    crm_insights_retention_days = fields.Integer(
        "Keep raw events (days)",
        default=100,
        config_parameter=PARAM_RETENTION,
        help="Raw open and click events older than this are purged; counts stay.",
    )

    @api.model
    def get_values(self):
        res = super().get_values()
        res["crm_insights_enabled"] = self.env["crm.email.tracking"]._crm_insights_enabled()
        return res

    def set_values(self):
        res = super().set_values()
        if self.env.user.has_group("base.group_system"):
            # sudo: administrators only (checked above), like every settings value.
            self.env["ir.config_parameter"].sudo().set_param(
                PARAM_ENABLED, "True" if self.crm_insights_enabled else "False"
            )
        return res
