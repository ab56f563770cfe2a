from odoo import api, models


class CrmTeam(models.Model):
    _inherit = "crm.team"

    # ------------------------------------------------------------------ sharing
    # Team leaders are email superiors of their members: keep the closure current.
    @api.model_create_multi
    def create(self, vals_list):
        teams = super().create(vals_list)
        self.env["res.users"]._crm_recompute_email_superiors()
        return teams

    def write(self, vals):
        res = super().write(vals)
        if {"user_id", "active", "crm_team_member_ids", "member_ids"} & set(vals):
            self.env["res.users"]._crm_recompute_email_superiors()
        return res

    def unlink(self):
        res = super().unlink()
        self.env["res.users"]._crm_recompute_email_superiors()
        return res
