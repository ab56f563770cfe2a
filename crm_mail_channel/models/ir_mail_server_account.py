import contextvars
from email.utils import getaddresses

from odoo import models, tools

# True while a message is prepared for a session on the sender's own account.
_OWN_ACCOUNT = contextvars.ContextVar("crm_mail_channel_own_account", default=False)


class IrMailServer(models.Model):
    """Messages sent through the user's own account (sessions opened by
    ``crm.mailbox._crm_smtp_connect``, see mail_mail_account.py).

    Their From is the account's address, keeping the name the message had: Odoo's
    ``_prepare_email_message`` puts the session's ``smtp_from`` there. They are not
    DKIM-signed by CRM: the provider signs what leaves through its own server, for its own
    domain, and rewrites some headers on the way (Microsoft 365 does), which would break a
    signature made here.
    """

    _inherit = "ir.mail_server"

    def _prepare_email_message(self, message, smtp_session):
        address = getattr(smtp_session, "crm_account_address", None)
        if not address:
            return super()._prepare_email_message(message, smtp_session)
        addresses = getaddresses([message["From"] or ""])
        name = addresses[0][0] if addresses else ""
        smtp_session.smtp_from = tools.formataddr((name, address))
        token = _OWN_ACCOUNT.set(True)
        try:
            return super()._prepare_email_message(message, smtp_session)
        finally:
            _OWN_ACCOUNT.reset(token)

    def _crm_dkim_sign(self, message, smtp_from, smtp_to_list):
        if _OWN_ACCOUNT.get():
            return False  # signed by the provider (see the class docstring)
        return super()._crm_dkim_sign(message, smtp_from, smtp_to_list)
