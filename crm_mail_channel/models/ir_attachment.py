from odoo import api, models


class IrAttachment(models.Model):
    _inherit = "ir.attachment"

    # ------------------------------------------------------------------ sharing
    @api.model_create_multi
    def create(self, vals_list):
        """Attachments of synced mail belong to the email's body row (crm.email.content).

        That row's record rules apply the sharing visibility level, so the attachment list,
        ir.attachment reads and /web/content downloads all follow it. Code that attaches to
        ``crm.email`` directly is redirected here.
        """
        email_ids = {
            vals["res_id"]
            for vals in vals_list
            if vals.get("res_model") == "crm.email" and vals.get("res_id")
        }
        if email_ids:
            # sudo: super().create() below checks the user may attach to these rows.
            bodies = self.env["crm.email.content"].sudo()._crm_body_rows(email_ids)
            for vals in vals_list:
                if vals.get("res_model") == "crm.email" and vals.get("res_id"):
                    vals.update(res_model="crm.email.content", res_id=bodies[vals["res_id"]])
        return super().create(vals_list)
