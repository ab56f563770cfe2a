from odoo import fields, models


class CrmMailboxUnmatched(models.Model):
    """Address index of synced messages that matched no contact.

    Holds no content, only where a message sits and which addresses it names, so that
    when a contact is created or gets a new address, its past mail is fetched at the next
    sync without rescanning the mailbox. Readable by sudo only.
    """

    _name = "crm.mailbox.unmatched"
    _description = "Unmatched Message Address"
    _log_access = False

    mailbox_id = fields.Many2one("crm.mailbox", required=True, ondelete="cascade", index=True)
    folder_id = fields.Many2one("crm.mailbox.folder", ondelete="cascade")
    uid = fields.Integer()
    pop_uidl = fields.Char()
    address = fields.Char(required=True, index=True)
    rescan = fields.Boolean(index=True, help="The address now belongs to a contact.")
