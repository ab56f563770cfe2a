from odoo import fields, models


class ResUsers(models.Model):
    _inherit = "res.users"

    crm_mailbox_ids = fields.One2many("crm.mailbox", "user_id", string="Mailboxes")
