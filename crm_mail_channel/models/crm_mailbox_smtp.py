import contextvars
import logging
import smtplib
import ssl

from odoo import api, fields, models, tools
from odoo.addons.base.models.ir_mail_server import SMTPConnection
from odoo.exceptions import UserError

from crm_mail_channel_core import smtp_account

from .crm_mailbox import SECURITY
from .crm_mailbox_auth import OAuthConsentRevoked

_logger = logging.getLogger(__name__)

# Only the owner turns sending through their account on or off, and chooses its server: their
# password or sign-in goes there (an administrator cannot point it elsewhere).
SMTP_FIELDS = ("send_through_account", "smtp_host", "smtp_port", "smtp_security")
# The mailbox whose provider keeps a Sent copy of the mail being sent now through it (set by
# mail_mail_account.py): no copy of that mail is appended by CRM. A context variable of this
# thread, not a key of the Odoo context, which RPC callers fill as they like.
SENT_BY_PROVIDER = contextvars.ContextVar("crm_mail_channel_sent_by_provider", default=None)


class CrmMailbox(models.Model):
    """Sending the owner's CRM mail through their own account (their provider's SMTP server).

    Mail a user creates in CRM and sends as themselves (see mail_mail_account.py) leaves
    through this server, logged in as the mailbox's account: with the mailbox password, or
    with the Google/Microsoft sign-in (SASL XOAUTH2, the reply checked, unlike Odoo's own
    ``ir.mail_server._smtp_login``). Its From is the account's address.
    """

    _inherit = "crm.mailbox"

    # Sending (owner only, see SMTP_FIELDS)
    send_through_account = fields.Boolean(
        "Send through my own account",
        default=False,
        copy=False,
        help="Mail you send from CRM leaves through your provider's outgoing server, signed "
        "in as this mailbox, with this mailbox's address as the sender. Otherwise it leaves "
        "through Odoo's outgoing mail server.",
    )
    smtp_host = fields.Char(
        "Outgoing server",
        copy=False,
        help="Your provider's outgoing (SMTP) server, e.g. smtp.example.com.",
    )
    smtp_port = fields.Integer("Outgoing server port", default=465, copy=False)
    smtp_security = fields.Selection(SECURITY, "Outgoing encryption", default="ssl", copy=False)
    provider_keeps_sent_copy = fields.Boolean(
        "Provider keeps sent copies",
        compute="_compute_provider_keeps_sent_copy",
        help="Gmail and Microsoft 365 store mail sent through their own server in Sent.",
    )

    _sql_constraints = [
        (
            "smtp_port_range",
            "CHECK(smtp_port >= 0 AND smtp_port < 65536)",
            "The outgoing server port must be 0-65535.",
        ),
    ]

    # ------------------------------------------------------------------ computes
    @api.depends("preset", "auth_type", "host")
    def _compute_provider_keeps_sent_copy(self):
        for mailbox in self:
            mailbox.provider_keeps_sent_copy = mailbox._crm_provider_keeps_sent_copy()

    def _crm_provider_keeps_sent_copy(self):
        self.ensure_one()
        return smtp_account.provider_keeps_sent_copy(self.preset, self.auth_type, self.host)

    def _crm_smtp_preset(self):
        self.ensure_one()
        return smtp_account.smtp_preset(self.preset, self.auth_type, self.host)

    # ------------------------------------------------------------------ onchanges
    @api.onchange("send_through_account", "auth_type", "preset")
    def _onchange_send_through_account(self):
        if not self.send_through_account:
            return
        if not self.smtp_host:
            preset = self._crm_smtp_preset()
            if preset:
                self.smtp_host, self.smtp_port = preset.host, preset.port
                self.smtp_security = preset.security
            else:
                self.smtp_host = smtp_account.guess_smtp_host(self.host) or False
        if self._crm_provider_keeps_sent_copy():
            # The provider stores what it sends in Sent: a copy from CRM would show twice.
            self.store_sent_on_server = False

    # ------------------------------------------------------------------ CRUD
    @api.model_create_multi
    def create(self, vals_list):
        mailboxes = super().create(vals_list)
        for mailbox, vals in zip(mailboxes, vals_list, strict=True):
            if vals.get("send_through_account") or vals.get("smtp_host"):
                mailbox._crm_check_owner()
                if mailbox.send_through_account:
                    mailbox._crm_apply_smtp_defaults(set(vals))
        return mailboxes

    def write(self, vals):
        if set(SMTP_FIELDS) & set(vals):
            # Refuses administrators too: the owner's password or sign-in goes to that server.
            self._crm_check_owner()
        owners = {mailbox.id: mailbox.user_id for mailbox in self} if "user_id" in vals else {}
        turning_on = self.browse()
        if vals.get("send_through_account"):
            turning_on = self.filtered(lambda m: not m.send_through_account)
        result = super().write(vals)
        handed_over = self.filtered(
            lambda m: m.id in owners and m.user_id != owners[m.id] and m.send_through_account
        )
        if handed_over:
            # A new owner chooses for themselves (their sign-in or password is needed anyway).
            super(CrmMailbox, handed_over).write({"send_through_account": False})
        if turning_on:
            turning_on._crm_apply_smtp_defaults(set(vals))
        return result

    def _crm_apply_smtp_defaults(self, given):
        """Just switched on: the provider's server, and no CRM copy in Sent where the provider
        keeps one (unless ``given`` sets them)."""
        for mailbox in self:
            vals = {}
            preset = mailbox._crm_smtp_preset()
            if preset and not mailbox.smtp_host and "smtp_host" not in given:
                vals.update(
                    smtp_host=preset.host, smtp_port=preset.port, smtp_security=preset.security
                )
            if (
                "store_sent_on_server" not in given
                and mailbox.store_sent_on_server
                and mailbox._crm_provider_keeps_sent_copy()
            ):
                vals["store_sent_on_server"] = False
            if vals:
                mailbox.write(vals)  # by the owner (checked in create/write) or the system

    # ------------------------------------------------------------------ actions
    def action_crm_test_sending(self):
        """Log in to the outgoing server as this account and leave, sending nothing."""
        self.ensure_one()
        self._crm_check_owner()
        # sudo: owner checked above; the password or tokens go to the owner's own server.
        mailbox = self.sudo()
        failed = self.env._("Sending through your account does not work yet")
        try:
            session = mailbox._crm_smtp_connect()
        except OAuthConsentRevoked as exc:
            mailbox._crm_oauth_mark_revoked()
            return self._crm_notification(failed, exc.args[0], "danger", sticky=True)
        except UserError as exc:
            return self._crm_notification(failed, exc.args[0], "danger", sticky=True)
        try:
            session.quit()
        except Exception:  # signed in already; closing is best effort
            _logger.debug("Closing the SMTP session failed", exc_info=True)
        return self._crm_notification(
            self.env._("Sending works"),
            self.env._(
                "Mail you send from CRM leaves through %s, signed in as you.",
                mailbox.smtp_host,
            ),
            "success",
        )

    # ------------------------------------------------------------------ who sends
    def _crm_account_address(self):
        """The address mail sent through this account carries as its From."""
        self.ensure_one()
        return tools.email_normalize(self.login or "") or self.user_id.email_normalized or False

    def _crm_sends_as(self, email_from):
        """Whether mail with this From is sent by the owner as themselves (their mailbox
        address, their email or their login), and so may leave through their account."""
        self.ensure_one()
        own = [
            self._crm_account_address(),
            self.user_id.email_normalized,
            tools.email_normalize(self.user_id.login or ""),
        ]
        address = tools.email_normalize(email_from or "", strict=True)
        return smtp_account.sends_as(address, own)

    # ------------------------------------------------------------------ SMTP
    def _crm_smtp_connect(self):
        """An SMTP session (Odoo's SMTPConnection) logged in as this mailbox's account, for
        ``ir.mail_server.send_email(smtp_session=...)``; the caller quits it.

        Raises UserError in plain words, OAuthConsentRevoked when the provider withdrew the
        sign-in. The session says which address it sends as (``crm_account_address``): Odoo
        puts it in From, and our DKIM signature steps aside (ir_mail_server_account.py).
        """
        self.ensure_one()
        host = (self.smtp_host or "").strip()
        address = self._crm_account_address()
        if not host or not address:
            raise UserError(
                self.env._(
                    "Sending through your own account needs the outgoing server and your "
                    "email address as the login: fill them in on My Mailbox."
                )
            )
        security = self.smtp_security or "ssl"
        port = self.smtp_port or (465 if security == "ssl" else 587)
        context = ssl.create_default_context()
        if not self.ssl_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        connection = None
        try:
            connection = SMTPConnection(
                host, port, security, context=context if security == "ssl" else None
            )
            if security == "starttls":
                connection.starttls(context=context)
            self._crm_smtp_authenticate(connection)
            connection.ehlo_or_helo_if_needed()
        except (smtplib.SMTPException, OSError) as exc:
            self._crm_smtp_close(connection)
            _logger.info("Outgoing server of mailbox %s failed: %s", self.id, exc)
            server = f"{host}:{port}"
            raise UserError(
                self.env._(
                    "The outgoing server %(server)s could not be used (%(error)s). Check the "
                    "outgoing server, port and encryption on My Mailbox.",
                    server=server,
                    error=str(exc) or exc.__class__.__name__,
                )
            ) from None
        except Exception:
            self._crm_smtp_close(connection)
            raise
        connection.from_filter = address
        connection.smtp_from = address
        connection.crm_account_address = address
        connection.crm_mailbox_id = self.id
        return connection

    @staticmethod
    def _crm_smtp_close(connection):
        if connection is not None:
            try:
                connection.close()
            except Exception:  # already failing; closing is best effort
                _logger.debug("Closing the SMTP connection failed", exc_info=True)

    def _crm_smtp_authenticate(self, smtp):
        """Log an open ``smtplib.SMTP`` connection in as this mailbox's account.

        With a provider sign-in: SASL XOAUTH2 with the same token as IMAP (one consent covers
        both), and, unlike Odoo's own ``ir.mail_server._smtp_login``, the reply is checked, so
        a refusal is reported instead of failing later at MAIL FROM. A refused token is
        replaced once by a new one: a withdrawn sign-in then shows as such (needs
        reconnecting), not as a wrong token.
        """
        self.ensure_one()
        login, secret, is_oauth = self._crm_imap_credentials()
        if not is_oauth:
            if not secret:
                raise UserError(
                    self.env._("No password is saved for this mailbox: type it on My Mailbox.")
                )
            try:
                smtp.login(login, secret)
            except smtplib.SMTPAuthenticationError as exc:
                raise UserError(self._crm_smtp_auth_error(exc.smtp_code, exc.smtp_error)) from None
            return
        code, reply = self._crm_smtp_xoauth2(smtp, login, secret)
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        if code != 235 and smtp_account.should_retry_with_new_token(code, text):
            self._crm_oauth_expire_access_token()
            login, secret, _is_oauth = self._crm_imap_credentials()
            code, reply = self._crm_smtp_xoauth2(smtp, login, secret)
        if code != 235:
            raise UserError(self._crm_smtp_auth_error(code, reply))

    @staticmethod
    def _crm_smtp_xoauth2(smtp, login, token):
        smtp.ehlo_or_helo_if_needed()
        code, reply = smtp.docmd(
            "AUTH", "XOAUTH2 " + smtp_account.xoauth2_initial_response(login, token)
        )
        if code == 334:
            # The server's JSON error challenge: an empty answer ends the exchange.
            code, reply = smtp.docmd("")
        return code, reply

    def _crm_smtp_auth_error(self, code, reply):
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
        refusal = smtp_account.classify_auth_refusal(code, text)
        if refusal == smtp_account.REFUSED_TENANT_DISABLED:
            return self.env._(
                "Microsoft 365 refused to send: sending from mail programs (SMTP AUTH) is "
                "turned off for your organisation or your mailbox. Your Microsoft 365 "
                'administrator can turn on "Authenticated SMTP" for your mailbox (Microsoft '
                "365 admin center > Users > your user > Mail > Manage email apps)."
            )
        if self.auth_type == "password":
            return self.env._(
                "The outgoing mail server refused your login and password (%(code)s "
                "%(reply)s). Check the mailbox password on My Mailbox (Gmail, Yahoo and iCloud "
                "need an app password).",
                code=code,
                reply=text.strip(),
            )
        return self.env._(
            "The outgoing mail server refused the sign-in (%(code)s %(reply)s). Connect the "
            "mailbox with your provider again.",
            code=code,
            reply=text.strip(),
        )
