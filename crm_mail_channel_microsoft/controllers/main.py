from odoo import http
from odoo.addons.crm_mail_channel.controllers import mailbox_oauth
from odoo.addons.microsoft_outlook.controllers.main import MicrosoftOutlookController


class CrmMailboxMicrosoftController(MicrosoftOutlookController):
    @http.route()
    def microsoft_outlook_callback(self, code=None, state=None, error_description=None, **kwargs):
        """A consent for a crm.mailbox is its owner's, whoever they are; Odoo's own route
        (administrators, mail servers) handles every other state."""
        target = mailbox_oauth.mailbox_state(state)
        if target is None:
            return super().microsoft_outlook_callback(
                code=code, state=state, error_description=error_description, **kwargs
            )
        error = error_description or kwargs.get("error")
        return mailbox_oauth.finish_sign_in(*target, code, provider_error=error)
