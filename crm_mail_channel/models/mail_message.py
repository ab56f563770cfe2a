from odoo import fields, models


class MailMessage(models.Model):
    _inherit = "mail.message"

    # Set by the sending code when mail for this message left without a DKIM signature
    crm_unsigned_reason = fields.Char(
        "Not DKIM-signed because",
        readonly=True,
        copy=False,
        help="Mail is signed only from the sender's own addresses and the company's system "
        "addresses; this says why it was not.",
    )
