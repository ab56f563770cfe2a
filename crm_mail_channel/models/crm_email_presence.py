from odoo import fields, models


class CrmEmailPresence(models.Model):
    """Where an email sits in one mailbox: folder, UID, flags, owner."""

    _name = "crm.email.presence"
    _description = "Email in a Mailbox"
    _order = "id"

    email_id = fields.Many2one("crm.email", required=True, ondelete="cascade", index=True)
    mailbox_id = fields.Many2one("crm.mailbox", required=True, ondelete="cascade", index=True)
    user_id = fields.Many2one(
        "res.users", "Owner", related="mailbox_id.user_id", store=True, index=True,
    )
    folder_id = fields.Many2one("crm.mailbox.folder", ondelete="set null", index=True)
    folder_role = fields.Selection(related="folder_id.role", store=True)
    uid = fields.Integer("Server UID", index=True)
    pop_uidl = fields.Char("POP3 UIDL", index=True)
    is_seen = fields.Boolean("Read")
    seen_pending = fields.Boolean(
        help="Read state changed in CRM and not yet pushed to the server.",
    )

    _sql_constraints = [
        (
            "presence_unique",
            "unique(mailbox_id, folder_id, email_id)",
            "An email sits once in a mailbox folder.",
        ),
    ]
