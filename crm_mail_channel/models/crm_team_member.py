from odoo import api, models


class CrmTeamMember(models.Model):
    _inherit = "crm.team.member"

    # ------------------------------------------------------------------ sharing
    @api.model_create_multi
    def create(self, vals_list):
        members = super().create(vals_list)
        self.env["res.users"]._crm_recompute_email_superiors()
        return members

    def write(self, vals):
        res = super().write(vals)
        if {"user_id", "crm_team_id", "active"} & set(vals):
            self.env["res.users"]._crm_recompute_email_superiors()
        return res

    def unlink(self):
        res = super().unlink()
        self.env["res.users"]._crm_recompute_email_superiors()
        return res
