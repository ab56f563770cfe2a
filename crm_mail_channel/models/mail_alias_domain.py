from odoo import api, models


class MailAliasDomain(models.Model):
    """Alias domains are the company's own: mail among them is between colleagues."""

    _inherit = "mail.alias.domain"

    @api.model_create_multi
    def create(self, vals_list):
        domains = super().create(vals_list)
        self.env["crm.email"]._crm_recompute_colleague_mail(domains=domains.mapped("name"))
        return domains

    def write(self, vals):
        before = set(self.mapped("name")) if "name" in vals else set()
        result = super().write(vals)
        if "name" in vals:
            changed = before | set(self.mapped("name"))
            self.env["crm.email"]._crm_recompute_colleague_mail(domains=changed)
        return result

    def unlink(self):
        names = self.mapped("name")
        result = super().unlink()
        self.env["crm.email"]._crm_recompute_colleague_mail(domains=names)
        return result
