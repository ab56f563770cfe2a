from odoo import fields, models

from ..models.crm_mail_domain_code import code_refused_notification


class CrmDropboxSenderCodeWizard(models.TransientModel):
    """Typing the code emailed to a BCC dropbox sender address."""

    _name = "crm.dropbox.sender.code.wizard"
    _description = "Verify a BCC Dropbox Sender Address"

    sender_id = fields.Many2one(
        "crm.dropbox.sender", "Address", required=True, readonly=True, ondelete="cascade"
    )
    code = fields.Char("Code", required=True)

    def action_verify(self):
        self.ensure_one()
        ok, message = self.sender_id._try_code(self.code)
        if ok:
            return {"type": "ir.actions.act_window_close"}
        return code_refused_notification(self.env, message)
