from odoo import fields, models
from odoo.exceptions import AccessError, UserError

from crm_mail_channel_core import errors, mailbox_client

from ..sync_store import MailboxStore


class CrmMailboxQuarantine(models.Model):
    """A message that failed to import, kept with its reason until retried or skipped."""

    _name = "crm.mailbox.quarantine"
    _description = "Quarantined Message"
    _order = "create_date desc, id desc"

    # Where the message sits
    mailbox_id = fields.Many2one("crm.mailbox", required=True, ondelete="cascade", index=True)
    user_id = fields.Many2one(related="mailbox_id.user_id", string="Owner", store=True, index=True)
    folder_id = fields.Many2one("crm.mailbox.folder", "Server folder", ondelete="cascade")
    uid = fields.Integer("Server UID")
    pop_uidl = fields.Char("POP3 UIDL")
    # Why it waits, and what became of it
    reason = fields.Text("Why it failed", required=True)
    attempts = fields.Integer("Import attempts", default=1)
    state = fields.Selection(
        [("pending", "Waiting"), ("skipped", "Skipped"), ("done", "Imported")],
        "Status",
        default="pending",
        required=True,
        index=True,
    )

    def write(self, vals):
        # Rows change only through Retry and Skip (after their owner check) and the sync,
        # all in superuser mode: a direct write could move a row to another mailbox.
        if not self.env.su:
            raise AccessError(
                self.env._("Quarantined messages change only through Retry and Skip.")
            )
        return super().write(vals)

    # ------------------------------------------------------------------ buttons
    def action_retry(self):
        """Fetch the message again and import it; it stays here if it still fails."""
        self._crm_check_owner()
        for mailbox in self.mailbox_id:
            self.filtered(lambda q, m=mailbox: q.mailbox_id == m)._crm_retry(mailbox)

    def action_skip(self):
        self._crm_check_owner()
        # sudo: owner checked by _crm_check_owner() above; users cannot write these rows.
        self.sudo().write({"state": "skipped"})

    # ------------------------------------------------------------------ helpers
    def _crm_check_owner(self):
        """Only the owner of the mailbox acts on its quarantine. Buttons are RPC methods and
        ``browse(ids)`` checks nothing: check the rows, then their mailboxes' owner."""
        if self.env.su:
            return
        try:
            self.check_access("read")
        except AccessError:
            raise AccessError(self.env._("Only the owner of this mailbox can do this.")) from None
        self.mailbox_id._crm_check_owner()

    def _crm_retry(self, mailbox):
        """Import again these quarantined messages of ``mailbox`` (owner already checked)."""
        if not mailbox._try_lock():
            raise UserError(self.env._("This mailbox is syncing right now. Try again in a minute."))
        # sudo: owner checked by the caller (action_retry); the import writes for the owner.
        mailbox = mailbox.with_user(mailbox.user_id).sudo()
        store = MailboxStore(mailbox)
        # sudo: same owner check; the rows are written by the import.
        quarantines = self.sudo().filtered(lambda q: q.state == "pending")
        if mailbox.protocol != "imap":
            # POP3 has no fetch by key: release the UIDLs, the next sync reads them again.
            quarantines.unlink()
            return
        try:
            with mailbox._crm_connection_slot() as free:
                if not free:
                    raise UserError(mailbox._crm_busy_message())
                self._crm_retry_in(mailbox, store, quarantines)
        except errors.MailChannelError as exc:
            raise UserError(exc.user_message) from None

    def _crm_retry_in(self, mailbox, store, quarantines):
        with mailbox_client.open_session(mailbox._mailbox_settings()) as session:
            for folder in quarantines.folder_id:
                uids = quarantines.filtered(lambda q, f=folder: q.folder_id == f).mapped("uid")
                missing = store.import_uids(session, folder, uids, mailbox._sync_options())
                quarantines.filtered(
                    lambda q, f=folder, m=missing: q.folder_id == f and q.uid in m
                ).write({"state": "skipped", "reason": self.env._("No longer on the server.")})
