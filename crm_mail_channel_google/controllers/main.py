from odoo import http
from odoo.addons.crm_mail_channel.controllers import mailbox_oauth
from odoo.addons.google_gmail.controllers.main import GoogleGmailController


class CrmMailboxGoogleController(GoogleGmailController):
    @http.route()
    def google_gmail_callback(self, code=None, state=None, error=None, **kwargs):
        """A consent for a crm.mailbox is its owner's, whoever they are; Odoo's own route
        (administrators, mail servers) handles every other state."""
        target = mailbox_oauth.mailbox_state(state)
        if target is None:
            return super().google_gmail_callback(code=code, state=state, error=error, **kwargs)
        return mailbox_oauth.finish_sign_in(*target, code, provider_error=error)
