from odoo import api, models

from crm_mail_channel_core import sharing_domains


class ResCompany(models.Model):
    """The company's own domains and users: what makes an email mail between colleagues."""

    _inherit = "res.company"

    @api.model
    def _crm_own_domains(self):
        """Email and website domains of every company, authenticated sending domains and
        alias domains (public mailbox providers left out)."""
        companies = (
            self.sudo()  # sudo: domain names only, needed whoever triggers the evaluation.
            .with_context(active_test=False)
            .search(["|", ("email", "!=", False), ("website", "!=", False)])
        )
        # sudo: domain names only, needed whoever triggers the evaluation.
        Domain = self.env["crm.mail.domain"].sudo()
        other = Domain.search([("state", "=", "authenticated")]).mapped("name")
        # sudo: alias domain names only.
        other += self.env["mail.alias.domain"].sudo().search([("name", "!=", False)]).mapped("name")
        return sharing_domains.own_domains(
            company_emails=[c.email for c in companies if c.email],
            websites=[c.website for c in companies if c.website],
            other_domains=other,
        )

    @api.model
    def _crm_internal_addresses(self):
        """Addresses of internal users: their email and their mailbox logins."""
        # sudo: addresses only, needed whoever triggers the evaluation.
        users = self.env["res.users"].sudo().search([("share", "=", False)])
        addresses = {email.lower() for email in users.mapped("email") if email}
        # sudo: mailbox logins only (addresses of our own users).
        logins = self.env["crm.mailbox"].sudo().search([("login", "like", "@")]).mapped("login")
        addresses.update(login.lower() for login in logins if login and "@" in login)
        return addresses

    @api.model
    def _crm_colleague_definition(self):
        """``(internal addresses, own domains)`` for sharing_domains.is_colleague_mail."""
        return self._crm_internal_addresses(), self._crm_own_domains()

    def write(self, vals):
        watched = {"email", "website"} & set(vals)
        before = self._crm_own_domains() if watched else None
        result = super().write(vals)
        if watched:
            changed = set(before) ^ set(self._crm_own_domains())
            if changed:
                self.env["crm.email"]._crm_recompute_colleague_mail(domains=changed)
        return result

    @api.model_create_multi
    def create(self, vals_list):
        companies = super().create(vals_list)
        if any(vals.get("email") or vals.get("website") for vals in vals_list):
            self.env["crm.email"]._crm_recompute_colleague_mail(domains=self._crm_own_domains())
        return companies
