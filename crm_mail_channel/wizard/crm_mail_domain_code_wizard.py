from odoo import _, fields, models


class CrmMailDomainCodeWizard(models.TransientModel):
    """Enter the emailed verification code of an email domain.

    A wrong code does not raise here: the wizard stays open with the reason, so the counted
    attempt is kept (the lockout cannot be dodged by the rollback of a failed request).
    """

    _name = "crm.mail.domain.code.wizard"
    _description = "Enter Email Domain Verification Code"

    domain_id = fields.Many2one("crm.mail.domain", required=True, ondelete="cascade")
    verification_email = fields.Char(related="domain_id.verification_email")
    code = fields.Char()
    error_message = fields.Char(readonly=True)

    def action_confirm(self):
        self.ensure_one()
        ok, message = self.domain_id._try_code(self.code)
        if not ok:
            self.write({"error_message": message, "code": False})
            return {
                "type": "ir.actions.act_window",
                "name": _("Enter the verification code"),
                "res_model": self._name,
                "res_id": self.id,
                "view_mode": "form",
                "target": "new",
            }
        return {"type": "ir.actions.act_window_close"}

    def action_resend(self):
        self.ensure_one()
        self.domain_id.action_send_code()
        self.write({"error_message": _("A new code was sent to %s.", self.verification_email)})
        return {
            "type": "ir.actions.act_window",
            "name": _("Enter the verification code"),
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
        }
