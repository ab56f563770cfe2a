from odoo import api, fields, models, tools

CRM_COMPOSER_MODELS = ("res.partner", "crm.lead")


class MailComposeMessage(models.TransientModel):
    _inherit = "mail.compose.message"

    # Said before sending: the From is on no authenticated domain, or is not the sender's
    crm_domain_warning = fields.Char(compute="_compute_crm_domain_warning")

    @api.depends("email_from", "model", "composition_mode")
    @api.depends_context("uid")
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
                composer.crm_domain_warning = self.env._(
                    "%(domain)s is not authenticated for sending from Odoo: receivers may put "
                    "this email in spam. Ask your administrator to set it up in Settings › CRM › "
                    "Email Authentication.",
                    domain=domain,
                )
                continue
            # The mail will be created by the current user, so it is sent for them.
            refusal = self.env["ir.mail_server"]._crm_signing_refusal(email, self.env.uid)
            if refusal:
                composer.crm_domain_warning = self.env._(
                    "This email will not be DKIM-signed because %(reason)s. Receivers may put "
                    "it in spam or refuse it: send it from your own address.",
                    reason=refusal,
                )
