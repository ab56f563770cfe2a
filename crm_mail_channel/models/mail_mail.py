from collections import defaultdict

from odoo import models

from .ir_mail_server import SENDING_AUTHOR, SendingAuthor


class MailMail(models.Model):
    _inherit = "mail.mail"

    def _send(
        self,
        auto_commit=False,
        raise_exception=False,
        smtp_session=None,
        alias_domain_id=False,
        mail_server=False,
        post_send_callback=None,
    ):
        """Send each mail for the user who created it: DKIM signs only that user's addresses.

        Queued mail is sent by a scheduled job as superuser, so the current user says nothing.
        The author of a message is no better: ``message_post`` takes ``author_id`` from its
        caller, and finds it from ``email_from`` when none is given. The creator of the
        mail.mail is set by the ORM and no caller chooses it; mail created by the superuser
        (the system itself) is sent for no user, so only the company's system addresses are
        signed for it. ``ir.mail_server`` reads the author from ``SENDING_AUTHOR``, set here
        for each creator's mails, and says which were not signed and why.
        """
        by_creator = defaultdict(list)
        # sudo: who created each mail and its message, read to decide signing only.
        for mail in self.sudo():
            by_creator[mail.create_uid.id].append(mail)
        result = True
        for creator_id, mails in by_creator.items():
            # Read before sending: sent mail may be deleted.
            messages = defaultdict(list)
            for mail in mails:
                messages[mail.message_id].append(mail.mail_message_id.id)
            author = SendingAuthor(creator_id or None)
            token = SENDING_AUTHOR.set(author)
            try:
                result = super(MailMail, self.browse([m.id for m in mails]))._send(
                    auto_commit=auto_commit,
                    raise_exception=raise_exception,
                    smtp_session=smtp_session,
                    alias_domain_id=alias_domain_id,
                    mail_server=mail_server,
                    post_send_callback=post_send_callback,
                )
            finally:
                SENDING_AUTHOR.reset(token)
            self._crm_record_unsigned(author, messages)
        return result

    def _crm_record_unsigned(self, author, messages):
        """Say on each message sent unsigned why it was not DKIM-signed."""
        for message_id, reason in author.unsigned.items():
            message_ids = messages.get(message_id)
            if message_ids:
                # sudo: the sending code notes its own decision on the messages it just sent.
                sent = self.env["mail.message"].sudo().browse(message_ids)
                sent.write({"crm_unsigned_reason": reason})
                self.env["crm.email"]._crm_note_unsigned(sent, reason)
