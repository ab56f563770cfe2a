import email
import email.policy
import xmlrpc.client

from odoo import api, models

from crm_mail_channel_core import dropbox_auth


class MailThread(models.AbstractModel):
    """BCC dropbox mail is taken out of Odoo's incoming path before anything else happens.

    ``message_process`` is where both the incoming mail servers (``fetchmail.server``) and the
    mail gateway hand over a message. Dropbox mail is recognised here, before Odoo's
    Message-ID duplicate check (the same message may already be known, e.g. as a chatter
    message of a record) and before alias routing (which would make a lead, a chatter message
    or a bounce of it). It never becomes a ``mail.message``: it is stored as a ``crm.email``
    under the sharing rules (crm_dropbox_import.py).
    """

    _inherit = "mail.thread"

    @api.model
    def message_process(
        self,
        model,
        message,
        custom_values=None,
        save_original=False,
        strip_attachments=False,
        thread_id=None,
    ):
        raw = _raw_bytes(message)
        if raw is not None and self.env["crm.mailbox"]._crm_dropbox_route(raw):
            return False
        return super().message_process(
            model,
            message,
            custom_values=custom_values,
            save_original=save_original,
            strip_attachments=strip_attachments,
            thread_id=thread_id,
        )

    @api.model
    def message_route(self, message, message_dict, model=None, thread_id=None, custom_values=None):
        # A caller that routes without message_process (custom gateways) still never gets a
        # route for dropbox mail: it is handled here and given no route.
        if isinstance(message, email.message.Message) and any(
            dropbox_auth.DROPBOX_PREFIX in str(value).lower() for value in message.values()
        ):
            raw = message.as_bytes(policy=email.policy.SMTP)
            if self.env["crm.mailbox"]._crm_dropbox_route(raw):
                return []
        return super().message_route(
            message, message_dict, model=model, thread_id=thread_id, custom_values=custom_values
        )


def _raw_bytes(message):
    """The message as bytes, as message_process accepts it (bytes, str, xmlrpc Binary)."""
    if isinstance(message, xmlrpc.client.Binary):
        return bytes(message.data)
    if isinstance(message, str):
        return message.encode("utf-8")
    if isinstance(message, (bytes, bytearray)):
        return bytes(message)
    return None
