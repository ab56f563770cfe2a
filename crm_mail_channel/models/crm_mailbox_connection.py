import hashlib
import logging

from odoo import api, fields, models
from odoo.exceptions import UserError

from crm_mail_channel_core import errors, mailbox_client

from .crm_mailbox import CONNECTION_FIELDS
from .crm_mailbox_setup import FORM_CONTEXT_KEY

_logger = logging.getLogger(__name__)


class CrmMailbox(models.Model):
    """The mailbox password and the connection to the server.

    The password is write-only and bound to what it was typed for: crm.mail.secret keeps,
    next to it, a fingerprint of the protocol, server, port, security, certificate check,
    login and owner (CONNECTION_FIELDS), and every connection (Test connection, Sync now, the
    cron, read state, copies in Sent) takes it only while that fingerprint still matches.

    A password the server rejects is not kept: Test connection drops it, and so does saving
    it from the mailbox form (which checks it with the server first).
    """

    _inherit = "crm.mailbox"

    # Password: write-only, the value lives in crm.mail.secret which no user can read
    password = fields.Char(
        "Mailbox password",
        compute="_compute_password",
        inverse="_inverse_password",
        store=False,
        copy=False,
    )
    has_password = fields.Boolean(
        "Password saved",
        compute="_compute_has_password",
        help="A password is kept for the server, port, security, login and owner it was typed "
        "for only: changing one of them clears it, and it must be typed again.",
    )

    # ------------------------------------------------------------------ password
    def _compute_password(self):
        for mailbox in self:
            mailbox.password = False

    @api.depends(*CONNECTION_FIELDS)
    def _compute_has_password(self):
        # On the form too: changing the server or login shows at once that the password
        # must be typed again (it is checked against the fingerprint of the new values).
        Secret = self.env["crm.mail.secret"]
        for mailbox in self:
            origin = mailbox._origin
            mailbox.has_password = bool(
                origin.id
                and Secret._get_secret(
                    origin, "password", fingerprint=mailbox._crm_connection_fingerprint()
                )
            )

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

    # ------------------------------------------------------------------ CRUD
    @api.model_create_multi
    def create(self, vals_list):
        mailboxes = super().create(vals_list)
        if self.env.context.get(FORM_CONTEXT_KEY):
            pairs = zip(mailboxes, vals_list, strict=True)
            self.browse(
                [m.id for m, vals in pairs if vals.get("password")]
            )._crm_check_typed_password()
        return mailboxes

    def write(self, vals):
        result = super().write(vals)
        if vals.get("password") and self.env.context.get(FORM_CONTEXT_KEY):
            self._crm_check_typed_password()
        return result

    def _crm_check_typed_password(self):
        """A password saved from the form is tried on the server at once: a rejected one is
        not kept, and the mailbox shows why (on the form and in Mailbox Health)."""
        for mailbox in self:
            if mailbox.host and mailbox.login and mailbox.state != "paused":
                mailbox._crm_try_connection()

    # ------------------------------------------------------------------ connection
    def _mailbox_settings(self, timeout=30):
        self.ensure_one()
        if not (self.host and self.login):
            raise UserError(self.env._("Fill in the server and the username first."))
        password = self._get_password()
        if not password:
            # Checked before connecting: nothing at all reaches a server no password was
            # typed for.
            raise UserError(
                self.env._(
                    "Type the mailbox password again and save. No password is saved for this "
                    "server and username: it is cleared whenever the server, port, encryption, "
                    "username or owner changes."
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

    def _crm_try_connection(self):
        """Log in with the saved details and record the outcome on the mailbox.

        Returns ``(True, server answer)`` or ``(False, plain-words error)``. Not an exception:
        the error state and a dropped password must be kept, not rolled back.
        """
        self.ensure_one()
        try:
            result = mailbox_client.test_connection(self._mailbox_settings(timeout=15))
        except errors.MailChannelError as exc:
            if isinstance(exc, errors.AuthenticationFailed):
                # Rejected by the server: never kept, never retried by the sync.
                self.env["crm.mail.secret"]._drop_secrets(self, "password")
                self.invalidate_recordset(["has_password"])
            vals = {"last_error": exc.user_message}
            if self.state != "paused":
                vals["state"] = "error"
            self.write(vals)
            return False, exc.user_message
        vals = {"last_error": False} if self.last_error else {}
        if self.state in ("draft", "error"):
            vals["state"] = "connected"
        if vals:
            self.write(vals)
        return True, result

    def action_test_connection(self):
        self.ensure_one()
        # Administrators may test a user's mailbox: the password only ever goes to the
        # server it was typed for (_get_password).
        self._crm_check_owner(allow_admin=True)
        refused = self.state == "error" and self.last_error and self.host and self.login
        if refused and not self._get_password():
            # Saving the form just tried the password and the server refused it: say why,
            # rather than only "type it again".
            return self._crm_notification(
                self.env._("Connection failed"), self.last_error, "danger", sticky=True
            )
        ok, result = self._crm_try_connection()
        if not ok:
            return self._crm_notification(
                self.env._("Connection failed"), result, "danger", sticky=True
            )
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
        """A toast, then the form reloads the record (closing the action makes the form
        reload what it shows, also a mailbox it has just created; a soft reload would
        restore the form as it was opened, empty for a new mailbox)."""
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": title,
                "message": message,
                "type": kind,
                "sticky": sticky,
                "next": {"type": "ir.actions.act_window_close"},
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
