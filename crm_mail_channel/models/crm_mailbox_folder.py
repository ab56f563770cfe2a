from odoo import fields, models


class CrmMailboxFolder(models.Model):
    """Sync cursor of one server folder (INBOX or Sent) of a mailbox."""

    _name = "crm.mailbox.folder"
    _description = "CRM Mailbox Folder"
    _order = "mailbox_id, role"

    mailbox_id = fields.Many2one("crm.mailbox", required=True, ondelete="cascade", index=True)
    user_id = fields.Many2one(related="mailbox_id.user_id", store=True, index=True)
    name = fields.Char(required=True, help="Folder name on the server.")
    role = fields.Selection([("inbox", "Inbox"), ("sent", "Sent")], required=True)
    uidvalidity = fields.Float(digits=(20, 0))
    last_uid = fields.Integer(default=0)
    highest_modseq = fields.Float(digits=(20, 0))
    message_count = fields.Integer(readonly=True)
    # Backfill cursor of a first sync run newest first (crm_mail_channel_core.sync.FolderState):
    # the window's UIDs below backfill_below are still to import; 0 means none (or done), which
    # is what folders synced before this cursor existed read as.
    backfill_below = fields.Integer("Backfill below UID", default=0, readonly=True)
    backfill_since = fields.Date("Backfill window start", readonly=True)
    backfill_total = fields.Integer("First sync messages", default=0, readonly=True)
    backfill_done = fields.Integer("First sync messages imported", default=0, readonly=True)

    _sql_constraints = [
        ("role_unique", "unique(mailbox_id, role)", "One folder per role and mailbox."),
    ]
