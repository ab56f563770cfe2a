import copy
import io
import logging
from email.generator import BytesGenerator

from odoo import api, models, modules, tools

from crm_mail_channel_core import dkim_sign

_logger = logging.getLogger(__name__)

DKIM_HEADER = "DKIM-Signature"


def wire_bytes(message, smtp_from, smtp_to_list):
    """The bytes ``smtplib.SMTP.send_message`` puts on the wire for ``message``.

    Same generator, same policy choice (SMTPUTF8 when an envelope address is not ASCII), same
    Bcc removal and CRLF line ends, so a signature computed over them verifies at the receiver.
    """
    # The generator invents missing MIME boundaries on the object it flattens; smtplib flattens
    # a copy, so fix them on the message itself first or each serialisation would differ.
    BytesGenerator(io.BytesIO()).flatten(message, linesep="\r\n")
    msg_copy = copy.copy(message)
    del msg_copy["Bcc"]
    del msg_copy["Resent-Bcc"]
    international = not "".join([smtp_from or "", *(smtp_to_list or [])]).isascii()
    with io.BytesIO() as buffer:
        if international:
            generator = BytesGenerator(buffer, policy=message.policy.clone(utf8=True))
        else:
            generator = BytesGenerator(buffer)
        generator.flatten(msg_copy, linesep="\r\n")
        return buffer.getvalue()


def prepend_raw_header(message, name, folded_value):
    """Put ``name: folded_value`` first, stored verbatim (public ``raw_items``/``set_raw``).

    ``folded_value`` keeps its own line folding; the generator writes such a value unchanged
    when no line is longer than the policy's limit, so the signed bytes reach the receiver.
    """
    items = list(message.raw_items())
    for header in {item_name.lower() for item_name, _value in items}:
        del message[header]
    message.set_raw(name, folded_value)
    for item_name, value in items:
        message.set_raw(item_name, value)


class IrMailServer(models.Model):
    _inherit = "ir.mail_server"

    # ---- crm_mail_channel: DKIM signing (issue 5) ---------------------------------------------

    def _prepare_email_message(self, message, smtp_session):
        """DKIM-sign every outgoing message whose final From is on an authenticated domain.

        Runs on every sending path (mail.mail, send_email callers, tests of the SMTP server)
        after Odoo has set the final From and removed Bcc.
        """
        smtp_from, smtp_to_list, message = super()._prepare_email_message(message, smtp_session)
        if not message.get(DKIM_HEADER):
            try:
                self._crm_dkim_sign(message, smtp_from, smtp_to_list)
            except Exception:
                _logger.exception("DKIM signing failed; the message is sent unsigned")
        return smtp_from, smtp_to_list, message

    def _crm_dkim_sign(self, message, smtp_from, smtp_to_list):
        from_email = tools.email_normalize(message.get("From") or "")
        if not from_email:
            return False
        key = self.env["crm.mail.domain"]._get_signing_key(from_email.rsplit("@", 1)[1])
        if not key:
            return False
        selector, domain, private_pem = key
        raw = wire_bytes(message, smtp_from, smtp_to_list)
        signed = dkim_sign.sign_message(raw, selector, domain, private_pem)
        header = signed[: len(signed) - len(raw)].decode("ascii")
        name, _sep, value = header.partition(":")
        value = value.lstrip(" ").rstrip("\r\n")
        prepend_raw_header(message, name.strip(), value)
        return True

    # ---- crm_mail_channel: copy of sent mail in the sender's Sent folder (issue 4) ------------

    @api.model
    def send_email(
        self,
        message,
        mail_server_id=None,
        smtp_server=None,
        smtp_port=None,
        smtp_user=None,
        smtp_password=None,
        smtp_encryption=None,
        smtp_ssl_certificate=None,
        smtp_ssl_private_key=None,
        smtp_debug=False,
        smtp_session=None,
    ):
        """Send, then store the exact bytes that left in the sender's Sent folder.

        Only mail sent from CRM whose sender's mailbox has "Store sent messages on the server"
        is concerned (a waiting ``crm.mailbox.pending.append``). The bytes are taken where
        smtplib hands them to the server, after every header change and the DKIM signature.
        A failed copy never fails the sending.
        """
        kwargs = {
            "mail_server_id": mail_server_id,
            "smtp_server": smtp_server,
            "smtp_port": smtp_port,
            "smtp_user": smtp_user,
            "smtp_password": smtp_password,
            "smtp_encryption": smtp_encryption,
            "smtp_ssl_certificate": smtp_ssl_certificate,
            "smtp_ssl_private_key": smtp_ssl_private_key,
            "smtp_debug": smtp_debug,
        }
        message_id = message["Message-Id"]
        pending = self.env["crm.mailbox.pending.append"]
        if modules.module.current_test or not message_id or not pending._crm_waiting(message_id):
            return super().send_email(message, smtp_session=smtp_session, **kwargs)
        session = smtp_session or self.connect(
            smtp_server,
            smtp_port,
            smtp_user,
            smtp_password,
            smtp_encryption,
            smtp_from=message["From"],
            ssl_certificate=smtp_ssl_certificate,
            ssl_private_key=smtp_ssl_private_key,
            smtp_debug=smtp_debug,
            mail_server_id=mail_server_id,
        )
        wire = []
        # Odoo's SMTPConnection wraps the smtplib object; send_message() calls its sendmail()
        # with the flattened bytes, which is where we listen.
        smtp = getattr(session, "__obj__", session)
        original_sendmail = smtp.sendmail

        def sendmail(from_addr, to_addrs, msg, *args, **kw):
            result = original_sendmail(from_addr, to_addrs, msg, *args, **kw)
            wire.append(msg.encode("utf-8") if isinstance(msg, str) else bytes(msg))
            return result

        smtp.sendmail = sendmail
        try:
            result = super().send_email(message, smtp_session=session, **kwargs)
        finally:
            vars(smtp).pop("sendmail", None)  # back to the class method
            if not smtp_session:
                try:
                    session.quit()
                except Exception:  # already sent; closing is best effort
                    _logger.debug("Closing the SMTP session failed", exc_info=True)
        if wire:
            try:
                with self.env.cr.savepoint():
                    pending._crm_on_sent(message_id, wire[-1])
            except Exception:  # the mail is sent; the copy is retried later
                _logger.exception("Could not record the sent copy of %s", message_id)
        return result
