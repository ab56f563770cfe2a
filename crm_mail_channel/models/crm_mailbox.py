import logging
import threading
import time
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL

from crm_mail_channel_core import errors, mailbox_client, sync

from ..sync_store import MailboxStore

_logger = logging.getLogger(__name__)

PROTOCOLS = [("imap", "IMAP"), ("pop3", "POP3")]
SECURITY = [("ssl", "SSL/TLS"), ("starttls", "STARTTLS"), ("none", "None (unencrypted)")]
STATES = [
    ("draft", "Not connected"),
    ("connected", "Connected"),
    ("syncing", "Syncing"),
    ("error", "Error"),
    ("paused", "Paused"),
]
# What a stored password was typed for: changing any of them drops it (see write()), and the
# connection code only uses a password whose fingerprint still matches them.
CONNECTION_FIELDS = ("protocol", "host", "port", "security", "ssl_verify", "login", "user_id")
# Cron: mailboxes per batch, seconds one mailbox may take per run, minutes between syncs.
CRON_BATCH_SIZE = 10
MAILBOX_MAX_SECONDS = 60
SYNC_INTERVAL_MINUTES = 4
# Messages fetched and stored per transaction savepoint. The driver holds two batches at once
# (one stored, the next fetched): 100 keeps peak memory low with mail carrying attachments,
# at the same speed as 200 (bench/bench_sync.py).
SYNC_BATCH_SIZE = 100
# _sync did not start (no free connection to the account, crm_mailbox_budget.py): still due.
SYNC_DEFERRED = "deferred"


class CrmMailbox(models.Model):
    """A user's own mailbox, synced into CRM.

    This file: fields, ownership, and the sync of one mailbox. The password and the
    connection are in crm_mailbox_connection.py, the provider choice and the first-time
    screen in crm_mailbox_setup.py, copies of sent mail in crm_mailbox_sent_copy.py.
    """

    _name = "crm.mailbox"
    _description = "CRM Mailbox"
    _order = "user_id, id"

    # Owner: set at creation; only an administrator may create for or hand over to another
    name = fields.Char("Mailbox name", compute="_compute_name", store=True, readonly=False)
    active = fields.Boolean(default=True)
    user_id = fields.Many2one(
        "res.users",
        "Owner",
        required=True,
        index=True,
        ondelete="cascade",
        default=lambda self: self.env.user,
    )
    company_id = fields.Many2one(related="user_id.company_id", string="Company", store=True)
    is_owner = fields.Boolean("Is the owner", compute="_compute_is_owner")
    # Server (changing one of these drops the saved password, see CONNECTION_FIELDS)
    protocol = fields.Selection(
        PROTOCOLS,
        "Server type",
        required=True,
        default="imap",
        help="IMAP is recommended: it reads your inbox and Sent folder and keeps read and "
        "unread in step with your mail program. POP3 reads the inbox only.",
    )
    host = fields.Char("Server", help="The incoming mail server, e.g. imap.example.com.")
    port = fields.Integer("Server port", default=993)
    security = fields.Selection(
        SECURITY,
        "Encryption",
        required=True,
        default="ssl",
        help="SSL/TLS or STARTTLS encrypt the connection. Choose None only for a server on "
        "your own network.",
    )
    ssl_verify = fields.Boolean(
        "Verify TLS certificate",
        default=True,
        help="Leave on. Turn off only for a server with a self-signed certificate you trust.",
    )
    login = fields.Char("Username", help="Usually your full email address.")
    # What the sync takes
    sync_window_days = fields.Integer(
        "First sync reaches back (days)",
        default=90,
        required=True,
    )
    max_message_size_mb = fields.Integer("Largest message imported (MB)", default=25)
    # Sync state, written by the sync
    state = fields.Selection(
        STATES, "Status", required=True, default="draft", readonly=True, index=True
    )
    last_error = fields.Text("Last error", readonly=True)
    last_sync_date = fields.Datetime("Last sync attempt", readonly=True)
    last_success_date = fields.Datetime("Last successful sync", readonly=True)
    backlog = fields.Integer(
        "Still to import", readonly=True, help="Messages known on the server, not imported yet."
    )
    last_imported = fields.Integer("Imported in last sync", readonly=True)
    # Server folders and messages that failed to import
    folder_ids = fields.One2many("crm.mailbox.folder", "mailbox_id", "Folders", readonly=True)
    quarantine_ids = fields.One2many(
        "crm.mailbox.quarantine",
        "mailbox_id",
        "Quarantined messages",
        readonly=True,
        domain=[("state", "=", "pending")],
    )
    quarantine_count = fields.Integer("Quarantined", compute="_compute_quarantine_count")

    _sql_constraints = [
        ("port_positive", "CHECK(port >= 0 AND port < 65536)", "The port must be 0-65535."),
    ]

    # ------------------------------------------------------------------ computes
    @api.depends("login", "user_id")
    def _compute_name(self):
        for mailbox in self:
            if mailbox.login or mailbox._origin.id:
                mailbox.name = mailbox.login or mailbox.user_id.name or self.env._("Mailbox")
            else:
                mailbox.name = False  # a form being filled in is "New" until the login

    @api.depends_context("uid")
    @api.depends("user_id")
    def _compute_is_owner(self):
        for mailbox in self:
            mailbox.is_owner = mailbox.user_id == self.env.user

    def _compute_quarantine_count(self):
        counts = dict(
            self.env["crm.mailbox.quarantine"]
            # sudo: a count only, for mailboxes the user already reads (crm.mailbox rules).
            .sudo()
            ._read_group(
                [("mailbox_id", "in", self.ids), ("state", "=", "pending")],
                ["mailbox_id"],
                ["__count"],
            )
        )
        for mailbox in self:
            mailbox.quarantine_count = counts.get(mailbox._origin, 0)

    # ------------------------------------------------------------------ CRUD
    @api.model_create_multi
    def create(self, vals_list):
        mailboxes = super().create(vals_list)
        # After create, so that a default_user_id in the context is caught too.
        if not self._crm_is_admin() and mailboxes.filtered(lambda m: m.user_id != self.env.user):
            raise AccessError(
                self.env._("Only an administrator can create a mailbox for another user.")
            )
        return mailboxes

    def write(self, vals):
        reconnect = self.browse()
        if set(CONNECTION_FIELDS) & set(vals):
            # Before comparing values: the same check the ORM makes below.
            self.check_access("write")
            if "user_id" in vals:
                self._crm_check_owner_change(vals["user_id"])
            reconnect = self._crm_connection_changes(vals)
        result = super().write(vals)
        if reconnect and not vals.get("password"):
            # A password goes to the server and account it was typed for, nowhere else:
            # whoever points the mailbox elsewhere (an administrator included) types it again.
            self.env["crm.mail.secret"]._drop_secrets(reconnect, "password")
            reconnect.invalidate_recordset(["has_password"])
        if (reconnect or "password" in vals) and "state" not in vals:
            # New connection details: the next sync tells whether they work.
            errored = self.filtered(lambda m: m.state == "error")
            if errored:
                super(CrmMailbox, errored).write({"state": "connected"})
        return result

    def unlink(self):
        ids = self.ids
        result = super().unlink()
        self.env["crm.mail.secret"]._drop_secrets(self.browse(ids))
        return result

    # ------------------------------------------------------------------ ownership
    def _crm_is_admin(self):
        return self.env.su or self.env.user.has_group("base.group_system")

    def _crm_check_owner(self, allow_admin=False):
        """Refuse unless the current user owns every mailbox of ``self`` (or is an
        administrator, when ``allow_admin``). Buttons are RPC methods: ``browse(ids)`` checks
        nothing, so each action calls this before it does anything."""
        if self.env.su or (allow_admin and self.env.user.has_group("base.group_system")):
            return
        message = self.env._("Only the owner of this mailbox can do this.")
        try:
            self.check_access("read")
        except AccessError:
            raise AccessError(message) from None
        if self.filtered(lambda m: m.user_id != self.env.user):
            raise AccessError(message)

    def _crm_check_owner_change(self, new_user):
        """Only administrators hand a mailbox to another user: whoever owns it receives the
        copies of their sent mail in its Sent folder and owns the mail synced from it."""
        if self._crm_is_admin():
            return
        new_id = new_user.id if isinstance(new_user, models.BaseModel) else new_user
        if self.filtered(lambda m: m.user_id.id != new_id):
            raise AccessError(
                self.env._("Only an administrator can give a mailbox to another user.")
            )

    def _crm_connection_changes(self, vals):
        """The mailboxes whose connection details ``vals`` really changes."""
        names = [name for name in CONNECTION_FIELDS if name in vals]
        changed = self.browse()
        for mailbox in self:
            for name in names:
                field = self._fields[name]
                new = field.convert_to_record(field.convert_to_cache(vals[name], mailbox), mailbox)
                if new != mailbox[name]:
                    changed |= mailbox
                    break
        return changed

    # ------------------------------------------------------------------ buttons
    def action_pause(self):
        # Administrators may pause and resume from Mailbox Health: it moves no mail.
        self._crm_check_owner(allow_admin=True)
        self.write({"state": "paused"})

    def action_resume(self):
        self._crm_check_owner(allow_admin=True)
        self.write({"state": "connected", "last_error": False})

    def action_sync_now(self):
        self.ensure_one()
        self._crm_check_owner()
        if self.state == "paused":
            raise UserError(self.env._("This mailbox is paused. Resume it first."))
        if not self._try_lock():
            raise UserError(
                self.env._("This mailbox is already syncing. Its new mail will appear in a moment.")
            )
        report = self._sync()
        if report == SYNC_DEFERRED:
            msg = self._crm_busy_message()
            return self._crm_notification(self.env._("Sync waits"), msg, "warning")
        if self.state == "error":
            # Not a UserError: that would roll back the error state and what was imported.
            return self._crm_notification(
                self.env._("Sync stopped"), self.last_error, "danger", sticky=True
            )
        if report and report.backlog:
            message = self.env._(
                "%(n)s emails imported, %(b)s more to come at the next sync.",
                n=self.last_imported,
                b=report.backlog,
            )
        else:
            message = self.env._(
                "%(n)s emails imported. The mailbox is up to date.", n=self.last_imported
            )
        return self._crm_notification(self.env._("Sync done"), message, "success")

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
        # sudo: callers are "Sync now" after _crm_check_owner() and the cron; the sync writes
        # emails and presences for the owner only.
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
        except errors.Throttled as exc:
            # Not a failure: wait and say why (crm_mailbox_push.py).
            mailbox._crm_back_off(exc)
            return report
        except errors.MailChannelError as exc:
            _logger.warning("Sync of mailbox %s stopped: %s", self.id, exc)
            error = exc.user_message
        except UserError as exc:
            error = exc.args[0]
        except Exception:
            _logger.exception("Sync of mailbox %s failed", self.id)
            error = self.env._(
                "The sync stopped on an unexpected problem. It will be "
                "retried; nothing already imported is lost."
            )
        else:
            vals = {
                "state": "connected",
                "last_error": False,
                "last_success_date": fields.Datetime.now(),
                "backlog": report.backlog or 0,
                "last_imported": store.imported,
            }
            mailbox.write(vals)
            return report
        mailbox.write({"state": "error", "last_error": error, "last_imported": store.imported})
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

    def _crm_is_due(self):
        """Still due, read again under the row lock: several cron jobs (lanes, in one or more
        Odoo processes) search the same due mailboxes and sync whichever they lock first."""
        self.ensure_one()
        self.invalidate_recordset()
        return bool(self.filtered_domain(self._due_mailboxes_domain()))

    @api.model
    def _crm_due_batch(self, domain, limit):
        """The next mailboxes the cron syncs (crm_mailbox_push.py puts pushed ones first)."""
        return self.search(domain, order="last_sync_date asc nulls first, id", limit=limit)

    @api.model
    def _cron_sync_mailboxes(self, batch_size=CRON_BATCH_SIZE, max_seconds=MAILBOX_MAX_SECONDS):
        """Sync due mailboxes a batch at a time; each under its row lock, committed alone."""
        auto_commit = not getattr(threading.current_thread(), "testing", False)
        domain = self._due_mailboxes_domain()
        # sudo: the scheduled job syncs every user's mailbox, each for its owner (_sync).
        Mailbox = self.sudo()
        mailboxes = Mailbox._crm_due_batch(domain, batch_size)
        started = time.monotonic()
        done = 0
        for mailbox in mailboxes:
            if not mailbox._try_lock():
                continue  # someone is already syncing it ("Sync now" or another worker)
            if not mailbox._crm_is_due():
                continue  # another cron worker synced it since the search above
            if mailbox._sync(max_seconds=max_seconds) == SYNC_DEFERRED:
                continue  # still due: the next run tries again
            done += 1
            if auto_commit:
                # Cron path only: keep each mailbox's sync and release its row lock.
                self.env.cr.commit()  # pylint: disable=invalid-commit
            if time.monotonic() - started > max_seconds * 3:
                break
        remaining = Mailbox.search_count(domain) if done else 0
        self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)
        if auto_commit:
            self.env.cr.commit()  # pylint: disable=invalid-commit
        return done
