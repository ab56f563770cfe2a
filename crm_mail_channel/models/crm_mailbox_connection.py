import hashlib
import logging

from odoo import api, fields, models
from odoo.exceptions import UserError

from crm_mail_channel_core import errors, mailbox_client

_logger = logging.getLogger(__name__)


class CrmMailbox(models.Model):
    """The mailbox password and the connection to the server.

    The password is write-only and bound to what it was typed for: crm.mail.secret keeps,
    next to it, a fingerprint of the protocol, server, port, security, certificate check,
    login and owner (CONNECTION_FIELDS), and every connection (Test connection, Sync now, the
    cron, read state, copies in Sent) takes it only while that fingerprint still matches.
    """

    _inherit = "crm.mailbox"

    # Password: write-only, the value lives in crm.mail.secret which no user can read
    password = fields.Char(
        compute="_compute_password",
        inverse="_inverse_password",
        store=False,
        copy=False,
    )
    has_password = fields.Boolean(
        compute="_compute_password",
        help="A password is kept for the server, port, security, login and owner it was typed "
        "for only: changing one of them clears it, and it must be typed again.",
    )

    # ------------------------------------------------------------------ password
    def _compute_password(self):
        for mailbox in self:
            mailbox.password = False
            mailbox.has_password = bool(mailbox.id and mailbox._get_password())

    def _inverse_password(self):
        secrets = self.env["crm.mail.secret"]
        for mailbox in self:
            if mailbox.password:
                secrets._set_secret(
                    mailbox,
                    "password",
                    mailbox.password,
                    fingerprint=mailbox._crm_connection_fingerprint(),
                )
        # Never keep the clear value in the cache: any later read computes False again.
        self.invalidate_recordset(["password", "has_password"], flush=False)

    def _crm_connection_fingerprint(self):
        """Digest of the connection details a password is typed for (CONNECTION_FIELDS)."""
        self.ensure_one()
        parts = (
            self.protocol or "",
            (self.host or "").strip().lower(),
            str(self.port or 0),
            self.security or "",
            "verify" if self.ssl_verify else "no-verify",
            (self.login or "").strip(),
            str(self.user_id.id or 0),
        )
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()

    def _get_password(self):
        """Clear-text password, for the connection code only; empty unless it was typed for
        the mailbox's current server, login and owner."""
        self.ensure_one()
        password = self.env["crm.mail.secret"]._get_secret(
            self, "password", fingerprint=self._crm_connection_fingerprint()
        )
        return password or ""

    @api.model
    def _crm_fingerprint_saved_passwords(self):
        """Upgrade path: bind the passwords saved before fingerprints existed to the details
        their mailbox has now. Run once by the migration that adds the fingerprint column."""
        # sudo: run by the migration, as superuser, over every mailbox.
        Secret = self.env["crm.mail.secret"].sudo()
        legacy = Secret.search(
            [("res_model", "=", self._name), ("key", "=", "password"), ("fingerprint", "=", False)]
        )
        # sudo: same migration run as above.
        mailboxes = self.sudo().with_context(active_test=False).browse(legacy.mapped("res_id"))
        for secret, mailbox in zip(legacy, mailboxes, strict=True):
            if mailbox.exists():
                secret.fingerprint = mailbox._crm_connection_fingerprint()
        return len(legacy)

    # ------------------------------------------------------------------ connection
    def _mailbox_settings(self, timeout=30):
        self.ensure_one()
        if not (self.host and self.login):
            raise UserError(self.env._("Fill in the server and the login first."))
        password = self._get_password()
        if not password:
            # Checked before connecting: nothing at all reaches a server no password was
            # typed for.
            raise UserError(
                self.env._(
                    "Type the mailbox password again and save. No password is saved for this "
                    "server and login: it is cleared whenever the server, port, security, "
                    "login or owner changes."
                )
            )
        return mailbox_client.MailboxSettings(
            protocol=self.protocol,
            host=self.host.strip(),
            port=self.port,
            security=self.security,
            login=self.login.strip(),
            password=password,
            timeout=timeout,
            ssl_verify=self.ssl_verify,
        )

    def action_test_connection(self):
        self.ensure_one()
        # Administrators may test a user's mailbox: the password only ever goes to the
        # server it was typed for (_get_password).
        self._crm_check_owner(allow_admin=True)
        try:
            result = mailbox_client.test_connection(self._mailbox_settings(timeout=15))
        except errors.MailChannelError as exc:
            raise UserError(exc.user_message) from None
        if self.state in ("draft", "error"):
            self.write({"state": "connected", "last_error": False})
        details = ""
        if isinstance(result, dict) and result.get("sent_folder"):
            details = self.env._(" Sent folder: %s.", result["sent_folder"])
        return self._crm_notification(
            self.env._("Connection works"),
            self.env._("CRM can read this mailbox.") + details,
            "success",
        )

    @api.model
    def _crm_notification(self, title, message, kind, sticky=False):
        """A toast, then the form reloads."""
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": title,
                "message": message,
                "type": kind,
                "sticky": sticky,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def _push_seen(self, presences):
        """Push the read state of these presences to the server now; on failure keep it
        pending (seen_pending) for the next sync. Never raises a mail channel error.

        Called by crm.email with the current user's own presences in this mailbox.
        """
        self.ensure_one()
        # sudo: the caller passes the user's own presences (crm.email._my_presences()).
        mailbox = self.sudo()
        presences = presences.sudo()  # sudo: same; presences are written by the addon only.
        try:
            with mailbox_client.open_session(mailbox._mailbox_settings(timeout=10)) as session:
                for folder in presences.folder_id:
                    for seen in (True, False):
                        group = presences.filtered(
                            lambda p, f=folder, s=seen: p.folder_id == f and p.is_seen == s
                        )
                        if group:
                            session.set_seen(folder.name, group.mapped("uid"), seen)
                            group.write({"seen_pending": False})
        except (errors.MailChannelError, UserError) as exc:
            _logger.info("Read state of mailbox %s kept for the next sync: %s", self.id, exc)

    # ------------------------------------------------------------------ menus
    @api.model
    def action_open_my_mailbox(self):
        mailbox = self.search([("user_id", "=", self.env.uid)], limit=1)
        if not mailbox:
            # A draft record from the start: the form's buttons (Test connection, Sync now)
            # then reload this very record.
            mailbox = self.create({"user_id": self.env.uid})
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("My Mailbox"),
            "res_model": "crm.mailbox",
            "view_mode": "form",
            "views": [(self.env.ref("crm_mail_channel.crm_mailbox_view_form").id, "form")],
            "res_id": mailbox.id,
            "target": "current",
        }
