from odoo import fields, models


class CrmMailDomainCodeWizard(models.TransientModel):
    """Enter the emailed verification code of an email domain.

    A wrong code does not raise here: the wizard stays open with the reason, so the counted
    try commits with the request (the lockout cannot be dodged by the rollback of a failed
    request).
    """

    _name = "crm.mail.domain.code.wizard"
    _description = "Enter Email Domain Verification Code"

    # The domain, and what the user types
    domain_id = fields.Many2one("crm.mail.domain", required=True, ondelete="cascade")
    verification_email = fields.Char("Address to verify", related="domain_id.verification_email")
    code = fields.Char("Verification code")
    # Why the last code was refused, or that a new one was sent
    error_message = fields.Char("Problem", readonly=True)

    def action_confirm(self):
        self.ensure_one()
        ok, message = self.domain_id._try_code(self.code)
        if not ok:
            self.write({"error_message": message, "code": False})
            return self._reopen()
        return {"type": "ir.actions.act_window_close"}

    def action_resend(self):
        self.ensure_one()
        self.domain_id.action_send_code()
        self.write(
            {"error_message": self.env._("A new code was sent to %s.", self.verification_email)}
        )
        return self._reopen()

    def _reopen(self):
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Enter the verification code"),
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
        }
