from odoo import _, api, fields, models, tools

CRM_COMPOSER_MODELS = ("res.partner", "crm.lead")


class MailComposeMessage(models.TransientModel):
    _inherit = "mail.compose.message"

    # ---- crm_mail_channel: unauthenticated sending domain warning (issue 5) ------------------
    crm_domain_warning = fields.Char(compute="_compute_crm_domain_warning")

    @api.depends("email_from", "model", "composition_mode")
    def _compute_crm_domain_warning(self):
        domains = self.env["crm.mail.domain"]
        for composer in self:
            composer.crm_domain_warning = False
            if composer.model not in CRM_COMPOSER_MODELS or composer.composition_mode != "comment":
                continue
            email = tools.email_normalize(composer.email_from or self.env.user.email or "")
            if not email:
                continue
            domain = email.rsplit("@", 1)[1]
            if not domains._is_authenticated_domain(domain):
                composer.crm_domain_warning = _(
                    "%(domain)s is not authenticated for sending from Odoo: receivers may put "
                    "this email in spam. Ask your administrator to set it up in Settings › CRM › "
                    "Email Authentication.",
                    domain=domain,
                )
