import contextvars
import copy
import io
import logging
from email.generator import BytesGenerator

from odoo import SUPERUSER_ID, api, models, modules, tools
from odoo.tools import SQL

from crm_mail_channel_core import dkim_sign

_logger = logging.getLogger(__name__)

DKIM_HEADER = "DKIM-Signature"


class SendingAuthor:
    """The user a message is sent for, and the messages not signed for them (with why).

    ``mail.mail._send`` sets one around each creator's mails, in ``SENDING_AUTHOR``: a context
    variable of this thread, not a key of the Odoo context, which RPC callers fill as they like.
    Without one (another sending path) the message is sent for the current user.
    """

    __slots__ = ("unsigned", "user_id")

    def __init__(self, user_id):
        self.user_id = user_id  # None: the system sends, for no user
        self.unsigned = {}  # Message-Id -> why it was not signed


SENDING_AUTHOR = contextvars.ContextVar("crm_mail_channel_sending_author", default=None)


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

    # ---- DKIM signing, only for the sender's own addresses and the company's ------------------

    def _prepare_email_message(self, message, smtp_session):
        """DKIM-sign an outgoing message whose final From is on an authenticated domain and
        belongs to the user it is sent for (or is a system address of the company).

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
        if len(message.get_all("From") or []) != 1:
            return False  # receivers may read another From than the one checked here
        # Strict: a From naming several addresses has no single owner, and is not signed.
        from_email = tools.email_normalize(message.get("From") or "")
        if not from_email:
            return False
        key = self.env["crm.mail.domain"]._get_signing_key(from_email.rsplit("@", 1)[1])
        if not key:
            return False
        author = SENDING_AUTHOR.get()
        sender_id = author.user_id if author else self.env.uid
        refusal = self._crm_signing_refusal(from_email, sender_id)
        if refusal:
            message_id = message.get("Message-Id") or ""
            _logger.info("Mail %s is sent without DKIM signature because %s", message_id, refusal)
            if author:
                author.unsigned[message_id] = refusal
            return False
        selector, domain, private_pem = key
        raw = wire_bytes(message, smtp_from, smtp_to_list)
        signed = dkim_sign.sign_message(raw, selector, domain, private_pem)
        header = signed[: len(signed) - len(raw)].decode("ascii")
        name, _sep, value = header.partition(":")
        value = value.lstrip(" ").rstrip("\r\n")
        prepend_raw_header(message, name.strip(), value)
        return True

    @api.model
    def _crm_signing_refusal(self, address, sender_id):
        """Why mail from ``address`` is not signed for the user ``sender_id``, or False.

        ``sender_id`` is the user the message is sent for (None or the superuser: the system).
        Signed are the company's system addresses, and the sender's own: a verified address,
        their login, or their email or mailbox login when no other user claims it too.
        """
        address = tools.email_normalize(address or "")
        if not address:
            return False
        if sender_id == SUPERUSER_ID:
            sender_id = None
        code = dkim_sign.sender_refusal(
            address,
            sender_id,
            self._crm_address_claims(address),
            self._crm_system_addresses(),
        )
        if not code:
            return False
        texts = {
            dkim_sign.REFUSED_NO_SENDER: self.env._(
                "it is sent by the system, and %s is not one of the company's system addresses",
                address,
            ),
            dkim_sign.REFUSED_OTHER_OWNER: self.env._("%s is another user's address", address),
            dkim_sign.REFUSED_SHARED: self.env._("%s is used by several users", address),
        }
        return texts.get(code) or self.env._(
            "%s is not the sender's own address (their email, their mailbox login or an address "
            "they verified)",
            address,
        )

    @api.model
    def _crm_address_claims(self, address):
        """``[(user id, claim kind)]`` of the active internal users who claim ``address``."""
        self.env["res.users"].flush_model(["login", "active", "share", "partner_id"])
        self.env["res.partner"].flush_model(["email", "email_normalized"])
        self.env["crm.mailbox"].flush_model(["login", "active", "user_id"])
        self.env["crm.mail.domain"].flush_model(
            ["verification_email", "active", "state", "code_verified_uid"]
        )
        # No sudo needed: plain SQL reading addresses only, to decide signing.
        self.env.cr.execute(
            SQL(
                """
                SELECT d.code_verified_uid, %(verified)s
                  FROM crm_mail_domain d
                  JOIN res_users u ON u.id = d.code_verified_uid
                 WHERE d.active AND d.state != 'code_pending'
                   AND lower(d.verification_email) = %(address)s
                   AND u.active AND NOT u.share
                UNION ALL
                SELECT u.id, %(login)s
                  FROM res_users u
                 WHERE u.active AND NOT u.share AND lower(u.login) = %(address)s
                UNION ALL
                SELECT u.id, %(email)s
                  FROM res_users u
                  JOIN res_partner p ON p.id = u.partner_id
                 WHERE u.active AND NOT u.share AND p.email_normalized = %(address)s
                UNION ALL
                SELECT u.id, %(mailbox)s
                  FROM crm_mailbox m
                  JOIN res_users u ON u.id = m.user_id
                 WHERE m.active AND u.active AND NOT u.share AND lower(m.login) = %(address)s
                """,
                address=address,
                verified=dkim_sign.CLAIM_VERIFIED,
                login=dkim_sign.CLAIM_LOGIN,
                email=dkim_sign.CLAIM_EMAIL,
                mailbox=dkim_sign.CLAIM_MAILBOX,
            )
        )
        return [(user_id, kind) for user_id, kind in self.env.cr.fetchall()]

    @api.model
    def _crm_system_addresses(self):
        """The company's own sending addresses: bounce, catch-all and default From of every
        alias domain, and Odoo's default From and bounce addresses (set by administrators)."""
        # sudo: the alias domains' addresses only, to decide signing whoever sends.
        alias_domains = self.env["mail.alias.domain"].sudo().search([("name", "!=", False)])
        candidates = [
            *alias_domains.mapped("bounce_email"),
            *alias_domains.mapped("catchall_email"),
            *alias_domains.mapped("default_from_email"),
            self._get_default_from_address(),
            self._get_default_bounce_address(),
        ]
        return sorted({tools.email_normalize(c) for c in candidates if c} - {False})

    # ---- copy of sent mail in the sender's Sent folder ----------------------------------------

    def _crm_sent_copy(self, message, raw, smtp_session):
        """The bytes to store in Sent for ``message`` that left as ``raw`` (Email Insights
        stores the untracked version of a tracked copy, see ir_mail_server_tracking.py)."""
        return raw

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
                    raw = self._crm_sent_copy(message, wire[-1], session)
                    pending._crm_on_sent(message_id, raw)
            except Exception:  # the mail is sent; the copy is retried later
                _logger.exception("Could not record the sent copy of %s", message_id)
        return result
