import base64
import logging
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError

from crm_mail_channel_core import errors, mailbox_client

_logger = logging.getLogger(__name__)

STATES = [
    ("waiting", "Waiting for the mail to leave"),
    ("failed", "Not stored yet, will retry"),
    ("done", "Stored in Sent"),
]
APPEND_TIMEOUT = 20
# Retries stop after this many attempts; the failure stays visible on the mailbox.
MAX_ATTEMPTS = 20


class CrmMailboxPendingAppend(models.Model):
    """A copy of mail sent from CRM, to be stored in the sender's Sent folder on the server.

    Queued when the mail is posted ("waiting"); the exact bytes that went out are kept when
    the SMTP server accepts the mail, then appended to Sent, marked read. A failed append
    ("failed") keeps the bytes and is retried by a scheduled job and from the mailbox.
    """

    _name = "crm.mailbox.pending.append"
    _description = "Sent Mail to Store on the Server"
    _order = "id"

    mailbox_id = fields.Many2one("crm.mailbox", required=True, ondelete="cascade", index=True)
    user_id = fields.Many2one(related="mailbox_id.user_id", store=True, index=True)
    email_id = fields.Many2one("crm.email", required=True, ondelete="cascade", index=True)
    message_id = fields.Char("Message-ID", required=True, index=True)
    state = fields.Selection(STATES, required=True, default="waiting", index=True)
    raw = fields.Binary("Message as sent", attachment=False)
    attempts = fields.Integer(default=0)
    last_error = fields.Text()
    last_attempt_date = fields.Datetime()

    # ------------------------------------------------------------------ queueing
    @api.model
    def _crm_queue_sent_copy(self, email, user):
        """Queue a copy of ``email`` for ``user``'s mailbox if it stores sent mail itself.

        Called by crm.email for the author of mail just posted from CRM: the copy goes to the
        mailbox that ``user`` owns, and only an administrator can change who owns a mailbox.
        """
        mailbox = (
            self.env["crm.mailbox"]
            # sudo: the author's own mailbox, found by owner (see docstring).
            .sudo()
            .search(
                [
                    ("user_id", "=", user.id),
                    ("store_sent_on_server", "=", True),
                    ("protocol", "=", "imap"),
                ],
                limit=1,
            )
        )
        if not mailbox:
            return self.browse()
        # sudo: the queue has no write access for users; internal bookkeeping of the send.
        existing = self.sudo().search(
            [("email_id", "=", email.id), ("mailbox_id", "=", mailbox.id)],
            limit=1,
        )
        if existing:
            return existing
        # sudo: same bookkeeping as above.
        return self.sudo().create(
            {
                "mailbox_id": mailbox.id,
                "email_id": email.id,
                "message_id": email.message_id,
            }
        )

    @api.model
    def _crm_waiting(self, message_id):
        # sudo: called by the mail server hook while sending, whoever runs the queue.
        return self.sudo().search([("message_id", "=", message_id), ("state", "=", "waiting")])

    @api.model
    def _crm_on_sent(self, message_id, raw):
        """The SMTP server accepted ``message_id`` as ``raw`` bytes: store that copy in Sent.

        Only the first copy counts: Odoo sends one message per recipient with the same
        Message-ID, and Sent keeps one.
        """
        pending = self._crm_waiting(message_id)
        if not pending:
            return pending
        pending.write({"raw": base64.b64encode(raw), "state": "failed"})
        pending._crm_append()
        return pending

    # ------------------------------------------------------------------ appending
    def _crm_append(self):
        """Append each copy to its mailbox's Sent folder; failures stay queued for a retry."""
        now = fields.Datetime.now()
        for mailbox in self.mailbox_id:
            items = self.filtered(lambda p, m=mailbox: p.mailbox_id == m and p.raw)
            if not items:
                continue
            # sudo: the queue only holds copies for their sender's own mailbox; the
            # password is used only for the server it was typed for (_get_password).
            with mailbox.sudo()._crm_connection_slot() as free:
                if free:
                    self._crm_append_to(mailbox, items, now)
                else:
                    # Not a failed attempt: the copy waits for a free connection (cron).
                    items.filtered(lambda p: p.state != "done").write(
                        {"state": "failed", "last_error": mailbox._crm_busy_message()}
                    )
        return True

    def _crm_append_to(self, mailbox, items, now):
        """Append ``items`` to ``mailbox``'s Sent folder (a connection slot is held)."""
        try:
            # sudo: see _crm_append.
            settings = mailbox.sudo()._mailbox_settings(timeout=APPEND_TIMEOUT)
            with mailbox_client.open_session(settings) as session:
                sent = next((f for f in session.list_sync_folders() if f.role == "sent"), None)
                if not sent:
                    raise UserError(
                        self.env._(
                            "The mailbox has no Sent folder. Create one in your mail program; "
                            "the copy will be stored at the next try."
                        )
                    )
                for item in items:
                    uid = session.append(sent.name, base64.b64decode(item.raw), seen=True)
                    item._crm_stored(sent.name, uid)
        except Exception as exc:  # the mail is sent; only the copy waits
            if isinstance(exc, errors.MailChannelError):
                reason = exc.user_message
            elif isinstance(exc, UserError):
                reason = exc.args[0]
            else:
                _logger.info("Storing sent mail in mailbox %s failed: %s", mailbox.id, exc)
                reason = self.env._("The copy could not be stored in Sent: %s", exc)
            failed = items.filtered(lambda p: p.state != "done")
            for item in failed:
                item.write(
                    {
                        "state": "failed",
                        "attempts": item.attempts + 1,
                        "last_error": reason,
                        "last_attempt_date": now,
                    }
                )
        return True

    def _crm_stored(self, folder_name, uid):
        """The copy is in Sent with ``uid``: record where it sits, so sync never doubles it."""
        self.ensure_one()
        # sudo: bookkeeping of a copy the append just stored in this mailbox's own Sent.
        mailbox = self.mailbox_id.sudo()
        folder = mailbox.folder_ids.filtered(lambda f: f.role == "sent")[:1]
        if not folder:
            folder = (
                self.env["crm.mailbox.folder"]
                .sudo()  # sudo: same bookkeeping; users cannot create folders.
                .create({"mailbox_id": mailbox.id, "name": folder_name, "role": "sent"})
            )
        # sudo: same bookkeeping; presences are written by the addon's own methods only.
        Presence = self.env["crm.email.presence"].sudo()
        presence = Presence.search(
            [
                ("mailbox_id", "=", mailbox.id),
                ("folder_id", "=", folder.id),
                ("email_id", "=", self.email_id.id),
            ],
            limit=1,
        )
        if presence:
            presence.write({"uid": uid or presence.uid, "is_seen": True})
        else:
            Presence.create(
                {
                    "email_id": self.email_id.id,
                    "mailbox_id": mailbox.id,
                    "folder_id": folder.id,
                    "uid": uid or 0,
                    "is_seen": True,
                }
            )
        self.write(
            {
                "state": "done",
                "raw": False,
                "attempts": self.attempts + 1,
                "last_error": False,
                "last_attempt_date": fields.Datetime.now(),
            }
        )

    # ------------------------------------------------------------------ retries
    @api.model
    def _crm_retry_domain(self, mailboxes=None):
        domain = [("state", "=", "failed"), ("raw", "!=", False), ("attempts", "<", MAX_ATTEMPTS)]
        if mailboxes is not None:
            domain.append(("mailbox_id", "in", mailboxes.ids))
        return domain

    @api.model
    def _cron_retry(self, limit=200):
        # sudo: the scheduled job retries every mailbox's copies, each to its own mailbox.
        pending = self.sudo().search(self._crm_retry_domain(), limit=limit)
        pending._crm_append()
        return len(pending)

    @api.autovacuum
    def _gc_pending_appends(self):
        """Forget stored copies after a month, and copies of mail that never left after a week."""
        now = fields.Datetime.now()
        # sudo: clean-up job over every mailbox.
        self.sudo().search(
            [
                "|",
                "&",
                ("state", "=", "done"),
                ("write_date", "<", now - timedelta(days=30)),
                "&",
                ("state", "=", "waiting"),
                ("create_date", "<", now - timedelta(days=7)),
            ]
        ).unlink()
