from odoo import models, tools

from .ir_mail_server import wire_bytes
from .mail_mail_tracking import UNTRACKED_MARKER


class IrMailServer(models.Model):
    """Email Insights: the Sent-folder copy of a tracked mail is its untracked version."""

    _inherit = "ir.mail_server"

    def build_email(self, *args, headers=None, **kwargs):
        untracked = None
        if headers and UNTRACKED_MARKER in headers:
            headers = dict(headers)
            untracked = headers.pop(UNTRACKED_MARKER)
        message = super().build_email(*args, headers=headers, **kwargs)
        if untracked:
            # Not a header: kept on the object, read when the Sent copy is stored.
            message.crm_untracked_values = untracked
        return message

    def _crm_sent_copy(self, message, raw, smtp_session):
        """The bytes stored in Sent: the untracked version of a tracked copy."""
        untracked = getattr(message, "crm_untracked_values", None)
        if not untracked:
            return super()._crm_sent_copy(message, raw, smtp_session)
        values = dict(untracked)
        emails_from = tools.mail.email_split_and_format(values["email_from"])
        copy = self.build_email(
            email_from=emails_from[0] if emails_from else values["email_from"],
            email_to=values["email_to"],
            subject=values["subject"],
            body=values["body"],
            body_alternative=values["body_alternative"],
            email_cc=values["email_cc"],
            reply_to=values["reply_to"],
            attachments=values["attachments"],
            message_id=values["message_id"],
            references=values["references"],
            object_id=values["object_id"],
            subtype="html",
            subtype_alternative="plain",
            headers=values["headers"],
        )
        smtp_from, smtp_to_list, copy = self._prepare_email_message(copy, smtp_session)
        return wire_bytes(copy, smtp_from, smtp_to_list)
