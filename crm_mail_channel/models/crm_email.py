from odoo import api, fields, models

LINK_REASONS = [
    ("thread", "Same thread"),
    ("sent_from_deal", "Sent from the deal"),
    ("single_open_deal", "Only open deal"),
    ("manual", "Set by a user"),
]


class CrmEmail(models.Model):
    """One email message, stored once whatever the number of mailboxes it sits in."""

    _name = "crm.email"
    _description = "CRM Email"
    _order = "date desc, id desc"
    _rec_name = "subject"

    message_id = fields.Char("Message-ID", required=True, index=True, readonly=True)
    subject = fields.Char(readonly=True)
    date = fields.Datetime(index=True, readonly=True)
    email_from = fields.Char("From", readonly=True)
    email_to = fields.Char("To", readonly=True)
    email_cc = fields.Char("Cc", readonly=True)
    partner_ids = fields.Many2many(
        "res.partner", "crm_email_res_partner_rel", "email_id", "partner_id",
        string="Contacts", readonly=True, help="Contacts whose address is in From, To or Cc.",
    )
    body_html = fields.Html("Body", sanitize=True, sanitize_style=True, readonly=True)
    preview = fields.Char(readonly=True)
    attachment_ids = fields.One2many(
        "ir.attachment", "res_id", domain=[("res_model", "=", "crm.email")],
        string="Attachments", readonly=True,
    )
    has_attachments = fields.Boolean(readonly=True)
    in_reply_to = fields.Char(readonly=True)
    references = fields.Text(readonly=True)
    thread_key = fields.Char(index=True, readonly=True, help="Message-ID of the thread's first mail.")
    presence_ids = fields.One2many("crm.email.presence", "email_id", readonly=True)
    sent_from_crm = fields.Boolean(readonly=True, index=True)
    lead_id = fields.Many2one("crm.lead", "Deal", index=True, ondelete="set null", readonly=True)
    link_reason = fields.Selection(LINK_REASONS, readonly=True)

    _sql_constraints = [
        ("message_id_unique", "unique(message_id)", "An email is stored once per Message-ID."),
    ]

    @api.model
    def _name_search_fields(self):
        return ["subject", "email_from"]
