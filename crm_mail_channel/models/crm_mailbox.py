import logging
import threading
import time
from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from crm_mail_channel_core import errors, mailbox_client, presets, sync

from .mailbox_store import MailboxStore

_logger = logging.getLogger(__name__)

PROTOCOLS = [("imap", "IMAP (recommended)"), ("pop3", "POP3")]
SECURITY = [("ssl", "SSL/TLS"), ("starttls", "STARTTLS"), ("none", "None (unencrypted)")]
STATES = [
    ("draft", "Not connected"),
    ("connected", "Connected"),
    ("syncing", "Syncing"),
    ("error", "Error"),
    ("paused", "Paused"),
]
# Cron: mailboxes per batch, seconds one mailbox may take per run, minutes between syncs.
CRON_BATCH_SIZE = 10
MAILBOX_MAX_SECONDS = 60
SYNC_INTERVAL_MINUTES = 4
# Messages fetched and stored per transaction savepoint. The driver holds two batches at once
# (one stored, the next fetched): 100 keeps peak memory low with mail carrying attachments,
# at the same speed as 200 (bench/bench_sync.py).
SYNC_BATCH_SIZE = 100


def _preset_selection(_model=None):
    return [(key, preset.label) for key, preset in presets.PROVIDER_PRESETS.items()]


class CrmMailbox(models.Model):
    """A user's own mailbox, synced into CRM."""

    _name = "crm.mailbox"
    _description = "CRM Mailbox"
    _order = "user_id, id"

    name = fields.Char(compute="_compute_name", store=True, readonly=False)
    active = fields.Boolean(default=True)
    user_id = fields.Many2one(
        "res.users",
        required=True,
        index=True,
        ondelete="cascade",
        default=lambda self: self.env.user,
    )
    company_id = fields.Many2one(related="user_id.company_id", store=True)
    preset = fields.Selection(_preset_selection, "Provider")
    preset_note = fields.Char(compute="_compute_preset_note")
    pop3_warning = fields.Text(compute="_compute_preset_note")
    protocol = fields.Selection(PROTOCOLS, required=True, default="imap")
    host = fields.Char()
    port = fields.Integer(default=993)
    security = fields.Selection(SECURITY, required=True, default="ssl")
    ssl_verify = fields.Boolean(
        "Verify TLS certificate",
        default=True,
        help="Leave on. Turn off only for a server with a self-signed certificate you trust.",
    )
    login = fields.Char()
    # Write-only: the value lives in crm.mail.secret, which no user can read.
    password = fields.Char(
        compute="_compute_password",
        inverse="_inverse_password",
        store=False,
        copy=False,
    )
    has_password = fields.Boolean(compute="_compute_password")
    state = fields.Selection(STATES, required=True, default="draft", readonly=True, index=True)
    last_error = fields.Text(readonly=True)
    last_sync_date = fields.Datetime("Last sync attempt", readonly=True)
    last_success_date = fields.Datetime("Last successful sync", readonly=True)
    backlog = fields.Integer(readonly=True, help="Messages known on the server, not imported yet.")
    sync_window_days = fields.Integer(
        "First sync reaches back (days)",
        default=90,
        required=True,
    )
    max_message_size_mb = fields.Integer("Largest message imported (MB)", default=25)
    folder_ids = fields.One2many("crm.mailbox.folder", "mailbox_id", readonly=True)
    quarantine_ids = fields.One2many(
        "crm.mailbox.quarantine",
        "mailbox_id",
        readonly=True,
        domain=[("state", "=", "pending")],
    )
    quarantine_count = fields.Integer("Quarantined", compute="_compute_quarantine_count")
    last_imported = fields.Integer("Imported in last sync", readonly=True)

    _sql_constraints = [
        ("port_positive", "CHECK(port >= 0 AND port < 65536)", "The port must be 0-65535."),
    ]

    # ------------------------------------------------------------------ computes
    @api.depends("login", "user_id")
    def _compute_name(self):
        for mailbox in self:
            mailbox.name = mailbox.login or mailbox.user_id.name or _("Mailbox")

    @api.depends("preset", "protocol")
    def _compute_preset_note(self):
        for mailbox in self:
            preset = presets.PROVIDER_PRESETS.get(mailbox.preset or "")
            mailbox.preset_note = preset.note if preset else False
            mailbox.pop3_warning = presets.POP3_WARNING

    def _compute_password(self):
        secrets = self.env["crm.mail.secret"]
        for mailbox in self:
            mailbox.password = False
            mailbox.has_password = bool(mailbox.id and secrets._get_secret(mailbox, "password"))

    def _inverse_password(self):
        secrets = self.env["crm.mail.secret"]
        for mailbox in self:
            if mailbox.password:
                secrets._set_secret(mailbox, "password", mailbox.password)
        # Never keep the clear value in the cache: any later read computes False again.
        self.invalidate_recordset(["password", "has_password"], flush=False)

    def _compute_quarantine_count(self):
        counts = dict(
            self.env["crm.mailbox.quarantine"]
            .sudo()
            ._read_group(
                [("mailbox_id", "in", self.ids), ("state", "=", "pending")],
                ["mailbox_id"],
                ["__count"],
            )
        )
        for mailbox in self:
            mailbox.quarantine_count = counts.get(mailbox._origin, 0)

    @api.onchange("preset")
    def _onchange_preset(self):
        preset = presets.PROVIDER_PRESETS.get(self.preset or "")
        if not preset:
            return
        self.protocol = preset.protocol
        if preset.host:
            self.host = preset.host
        self.port = preset.port
        self.security = preset.security

    @api.onchange("protocol", "security")
    def _onchange_protocol_port(self):
        if self.preset:
            return
        ports = {
            ("imap", "ssl"): 993,
            ("imap", "starttls"): 143,
            ("imap", "none"): 143,
            ("pop3", "ssl"): 995,
            ("pop3", "starttls"): 110,
            ("pop3", "none"): 110,
        }
        if self.port in ports.values():
            self.port = ports[(self.protocol, self.security)]

    def _get_password(self):
        """Clear-text password, for the sync code only."""
        self.ensure_one()
        return self.env["crm.mail.secret"]._get_secret(self, "password") or ""

    def write(self, vals):
        if {"host", "port", "login", "protocol", "security", "password"} & set(vals) and (
            "state" not in vals
        ):
            # New connection details: the next sync tells whether they work.
            for mailbox in self.filtered(lambda m: m.state == "error"):
                mailbox.sudo().state = "connected"
        return super().write(vals)

    def unlink(self):
        self.env["crm.mail.secret"]._drop_secrets(self)
        return super().unlink()

    # ------------------------------------------------------------------ connection
    def _mailbox_settings(self, timeout=30):
        self.ensure_one()
        if not (self.host and self.login):
            raise UserError(_("Fill in the server and the login first."))
        return mailbox_client.MailboxSettings(
            protocol=self.protocol,
            host=self.host.strip(),
            port=self.port,
            security=self.security,
            login=self.login.strip(),
            password=self.sudo()._get_password(),
            timeout=timeout,
            ssl_verify=self.ssl_verify,
        )

    def action_test_connection(self):
        self.ensure_one()
        try:
            result = mailbox_client.test_connection(self._mailbox_settings(timeout=15))
        except errors.MailChannelError as exc:
            raise UserError(exc.user_message) from None
        if self.state in ("draft", "error"):
            self.sudo().write({"state": "connected", "last_error": False})
        details = ""
        if isinstance(result, dict) and result.get("sent_folder"):
            details = _(" Sent folder: %s.", result["sent_folder"])
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _("Connection works"),
                "message": _("CRM can read this mailbox.") + details,
                "type": "success",
                "sticky": False,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def action_pause(self):
        self.sudo().write({"state": "paused"})

    def action_resume(self):
        self.sudo().write({"state": "connected", "last_error": False})

    # ------------------------------------------------------------------ sync
    def _try_lock(self):
        """Row lock held until the transaction ends: two workers never sync one mailbox."""
        self.ensure_one()
        self.env.cr.execute(
            SQL(
                "SELECT id FROM crm_mailbox WHERE id = %s FOR NO KEY UPDATE SKIP LOCKED",
                self.id,
            )
        )
        return bool(self.env.cr.fetchone())

    def action_sync_now(self):
        self.ensure_one()
        if self.state == "paused":
            raise UserError(_("This mailbox is paused. Resume it first."))
        if not self._try_lock():
            raise UserError(
                _("This mailbox is already syncing. Its new mail will appear in a moment.")
            )
        report = self._sync()
        if self.state == "error":
            # Not a UserError: that would roll back the error state and what was imported.
            return {
                "type": "ir.actions.client",
                "tag": "display_notification",
                "params": {
                    "title": _("Sync stopped"),
                    "message": self.last_error,
                    "type": "danger",
                    "sticky": True,
                    "next": {"type": "ir.actions.client", "tag": "soft_reload"},
                },
            }
        if report and report.backlog:
            message = _(
                "%(n)s emails imported, %(b)s more to come at the next sync.",
                n=self.last_imported,
                b=report.backlog,
            )
        else:
            message = _("%(n)s emails imported. The mailbox is up to date.", n=self.last_imported)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": _("Sync done"),
                "message": message,
                "type": "success",
                "sticky": False,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def _sync_options(self, max_seconds=None):
        self.ensure_one()
        since = fields.Date.today() - timedelta(days=max(self.sync_window_days, 1))
        return sync.SyncOptions(
            since=since,
            batch_size=SYNC_BATCH_SIZE,
            max_message_size=max(self.max_message_size_mb, 1) * 1024 * 1024,
            max_seconds=max_seconds,
        )

    def _sync(self, max_seconds=None):
        """Sync one locked mailbox. Writes with sudo, attributed to the owner.

        Mail channel errors (wrong password, server down...) set the state to 'error'
        with a plain message; everything imported before the error stays.
        """
        self.ensure_one()
        mailbox = self.with_user(self.user_id).sudo()
        mailbox.write({"state": "syncing", "last_sync_date": fields.Datetime.now()})
        store = MailboxStore(mailbox)
        report = None
        try:
            settings = mailbox._mailbox_settings()
            options = mailbox._sync_options(max_seconds)
            with mailbox_client.open_session(settings) as session:
                if mailbox.protocol == "pop3":
                    report = sync.run_pop3_sync(session, store, options)
                else:
                    store.push_pending_flags(session)
                    store.rescan(session, options)
                    report = sync.run_imap_sync(session, store, options)
        except errors.MailChannelError as exc:
            _logger.warning("Sync of mailbox %s stopped: %s", self.id, exc)
            mailbox.write(
                {"state": "error", "last_error": exc.user_message, "last_imported": store.imported}
            )
            return report
        except UserError as exc:
            mailbox.write(
                {"state": "error", "last_error": exc.args[0], "last_imported": store.imported}
            )
            return report
        except Exception:
            _logger.exception("Sync of mailbox %s failed", self.id)
            mailbox.write(
                {
                    "state": "error",
                    "last_error": _(
                        "The sync stopped on an unexpected problem. It will be "
                        "retried; nothing already imported is lost."
                    ),
                    "last_imported": store.imported,
                }
            )
            return report
        vals = {
            "state": "connected",
            "last_error": False,
            "last_success_date": fields.Datetime.now(),
            "backlog": report.backlog or 0,
            "last_imported": store.imported,
        }
        if report.errors:
            vals["last_error"] = "\n".join(str(e) for e in report.errors)
        mailbox.write(vals)
        return report

    @api.model
    def _due_mailboxes_domain(self):
        due = fields.Datetime.now() - timedelta(minutes=SYNC_INTERVAL_MINUTES)
        return [
            ("state", "in", ("connected", "syncing", "error")),
            "|",
            "|",
            ("last_sync_date", "=", False),
            ("last_sync_date", "<", due),
            ("backlog", ">", 0),
        ]

    @api.model
    def _cron_sync_mailboxes(self, batch_size=CRON_BATCH_SIZE, max_seconds=MAILBOX_MAX_SECONDS):
        """Sync due mailboxes a batch at a time; each under its row lock, committed alone."""
        auto_commit = not getattr(threading.current_thread(), "testing", False)
        domain = self._due_mailboxes_domain()
        mailboxes = self.sudo().search(
            domain, order="last_sync_date asc nulls first, id", limit=batch_size
        )
        started = time.monotonic()
        done = 0
        for mailbox in mailboxes:
            if not mailbox._try_lock():
                continue  # someone is already syncing it ("Sync now" or another worker)
            mailbox._sync(max_seconds=max_seconds)
            done += 1
            if auto_commit:
                # Cron path only: keep each mailbox's sync and release its row lock.
                self.env.cr.commit()  # pylint: disable=invalid-commit
            if time.monotonic() - started > max_seconds * 3:
                break
        remaining = self.sudo().search_count(domain) if done else 0
        self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)
        if auto_commit:
            self.env.cr.commit()  # pylint: disable=invalid-commit
        return done

    def _push_seen(self, presences):
        """Push the read state of these presences to the server now; on failure keep it
        pending (seen_pending) for the next sync. Never raises a mail channel error."""
        self.ensure_one()
        mailbox = self.sudo()
        presences = presences.sudo()
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

    def _retry_quarantined(self, quarantines):
        self.ensure_one()
        if not self._try_lock():
            raise UserError(_("This mailbox is syncing right now. Try again in a minute."))
        mailbox = self.with_user(self.user_id).sudo()
        store = MailboxStore(mailbox)
        quarantines = quarantines.sudo().filtered(lambda q: q.state == "pending")
        if self.protocol != "imap":
            # POP3 has no fetch by key: release the UIDLs, the next sync reads them again.
            quarantines.unlink()
            return
        try:
            with mailbox_client.open_session(mailbox._mailbox_settings()) as session:
                for folder in quarantines.folder_id:
                    uids = quarantines.filtered(lambda q, f=folder: q.folder_id == f).mapped("uid")
                    missing = store.import_uids(session, folder, uids, mailbox._sync_options())
                    quarantines.filtered(
                        lambda q, f=folder, m=missing: q.folder_id == f and q.uid in m
                    ).write({"state": "skipped", "reason": _("No longer on the server.")})
        except errors.MailChannelError as exc:
            raise UserError(exc.user_message) from None

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
            "name": _("My Mailbox"),
            "res_model": "crm.mailbox",
            "view_mode": "form",
            "views": [(self.env.ref("crm_mail_channel.crm_mailbox_view_form").id, "form")],
            "res_id": mailbox.id,
            "target": "current",
        }

    # ------------------------------------------------------------------ sent copies (issue 4)
    store_sent_on_server = fields.Boolean(
        "Store sent messages on the server",
        default=True,
        help="Mail you send from CRM leaves through Odoo's outgoing server, so your provider "
        "does not see it and your Sent folder stays empty unless CRM stores a copy there. "
        "Leave this on for most providers (IMAP servers, cPanel/Plesk hosting, Zoho, Yahoo, "
        "iCloud, and Gmail or Microsoft 365 when Odoo sends through another SMTP server). "
        "Gmail and Microsoft 365 store a copy themselves only when Odoo sends through their "
        "own SMTP server with this same account; CRM never shows such a copy twice. "
        "To check: send yourself one message from CRM and look in Sent in your mail "
        "program. Two copies there: turn this off. None: turn it on.",
    )
    pending_append_ids = fields.One2many(
        "crm.mailbox.pending.append",
        "mailbox_id",
        readonly=True,
        domain=[("state", "=", "failed")],
    )
    sent_copy_failed_count = fields.Integer(
        "Sent copies waiting",
        compute="_compute_sent_copy_failed",
    )
    sent_copy_error = fields.Text("Sent copy problem", compute="_compute_sent_copy_failed")

    def _compute_sent_copy_failed(self):
        Pending = self.env["crm.mailbox.pending.append"].sudo()
        failed = Pending.search(
            [("mailbox_id", "in", self.ids), ("state", "=", "failed")],
            order="id desc",
        )
        for mailbox in self:
            mine = failed.filtered(lambda p, m=mailbox: p.mailbox_id.id == m.id)
            mailbox.sent_copy_failed_count = len(mine)
            mailbox.sent_copy_error = mine[:1].last_error or False

    def action_retry_sent_copies(self):
        """Store again the sent mail whose copy could not reach the Sent folder."""
        Pending = self.env["crm.mailbox.pending.append"].sudo()
        Pending.search(
            [("mailbox_id", "in", self.ids), ("state", "=", "failed"), ("raw", "!=", False)]
        )._crm_append()
        return True
