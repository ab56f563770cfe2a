from datetime import timedelta

from odoo import _, api, fields, models
from odoo.exceptions import UserError

RECENT_DAYS = 90
MAX_THREADS = 50


class CrmLeadPullThreadsWizard(models.TransientModel):
    """Link a contact's recent conversations that have no deal to a deal, in one step."""

    _name = "crm.lead.pull.threads.wizard"
    _description = "Pull Recent Conversations into a Deal"

    lead_id = fields.Many2one("crm.lead", required=True, ondelete="cascade")
    days = fields.Integer("From the last (days)", default=RECENT_DAYS, required=True)
    email_ids = fields.Many2many(
        "crm.email",
        string="Conversations",
        compute="_compute_email_ids",
        store=True,
        readonly=False,
        help="The latest email of each conversation of the contact without a deal. "
        "Remove the ones that do not belong to this deal.",
    )

    @api.depends("lead_id", "days")
    def _compute_email_ids(self):
        for wizard in self:
            wizard.email_ids = wizard._crm_candidate_emails()

    def _crm_candidate_emails(self):
        self.ensure_one()
        Email = self.env["crm.email"]
        partner = self.lead_id.partner_id
        if not partner:
            return Email
        since = fields.Datetime.now() - timedelta(days=max(self.days, 1))
        emails = Email.search(
            [
                ("partner_ids", "in", partner.ids),
                ("lead_id", "=", False),
                ("date", ">=", since),
            ],
            order="date desc, id desc",
            limit=1000,
        )
        latest = Email
        seen = set()
        for email in emails:
            key = email.thread_key or email.message_id
            if key in seen:
                continue
            seen.add(key)
            latest |= email
            if len(latest) >= MAX_THREADS:
                break
        return latest

    def action_apply(self):
        self.ensure_one()
        self.lead_id.check_access("write")
        if not self.email_ids:
            raise UserError(_("There is no conversation to link."))
        keys = [key for key in self.email_ids.mapped("thread_key") if key]
        emails = self.email_ids
        if keys:
            emails |= self.env["crm.email"].search(
                [("thread_key", "in", keys), ("lead_id", "=", False)]
            )
        emails._crm_set_deal(self.lead_id)
        return {"type": "ir.actions.act_window_close"}
