from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError

from .crm_email_relink_wizard import check_readable, check_writable, many2one_id, x2many_ids

RECENT_DAYS = 90
MAX_THREADS = 50


class CrmLeadPullThreadsWizard(models.TransientModel):
    """Link recent conversations without a deal to a deal, in one step: those of the deal's
    contact and of everyone at the contact's company.

    The list is searched as the current user (Odoo computes stored fields as superuser by
    default), and create/write refuse a deal or an email the user cannot read.
    """

    _name = "crm.lead.pull.threads.wizard"
    _description = "Pull Recent Conversations into a Deal"

    # The deal, and how far back to look
    lead_id = fields.Many2one("crm.lead", "Deal", required=True, ondelete="cascade")
    days = fields.Integer("Look back (days)", default=RECENT_DAYS, required=True)
    # The conversations to link
    email_ids = fields.Many2many(
        "crm.email",
        string="Conversations",
        compute="_compute_email_ids",
        compute_sudo=False,
        store=True,
        readonly=False,
        help="The latest email of each conversation without a deal, of the deal's contact "
        "and of the people of its company. Remove the ones that do not belong to this deal.",
    )
    empty_message = fields.Char("When none is found", compute="_compute_empty_message")

    @api.depends("lead_id", "days")
    def _compute_email_ids(self):
        for wizard in self:
            wizard.email_ids = wizard._crm_candidate_emails()

    @api.depends("email_ids", "days")
    def _compute_empty_message(self):
        for wizard in self:
            wizard.empty_message = False if wizard.email_ids else wizard._crm_empty_message()

    def _crm_empty_message(self):
        return self.env._("No conversation without a deal in the last %s days.", max(self.days, 1))

    def _crm_candidate_emails(self):
        self.ensure_one()
        Email = self.env["crm.email"]
        lead = self.lead_id
        if not lead or not lead.has_access("read"):
            return Email
        # The deal's company and everyone in it (or the person, without a company).
        company = lead.partner_id.commercial_partner_id
        if not company:
            return Email
        since = fields.Datetime.now() - timedelta(days=max(self.days, 1))
        emails = Email.search(
            [
                ("partner_ids", "child_of", company.id),
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

    # ------------------------------------------------------------------ CRUD
    @api.model_create_multi
    def create(self, vals_list):
        defaults = self.default_get(["lead_id"])
        for vals in vals_list:
            self._crm_check_lead({**defaults, **vals})
        wizards = super().create(vals_list)
        wizards._crm_check_emails()
        return wizards

    def write(self, vals):
        self._crm_check_lead(vals)
        result = super().write(vals)
        if "email_ids" in vals:
            self._crm_check_emails()
        return result

    def onchange(self, values, field_names, fields_spec):
        # The form's onchange answers with names read as superuser (web's onchange): refuse a
        # deal or emails the user cannot read first.
        self._crm_check_lead({**self.default_get(["lead_id"]), **values})
        check_readable(
            self.env["crm.email"].browse(x2many_ids(values.get("email_ids"))),
            self.env._("You cannot open every email of this list."),
        )
        return super().onchange(values, field_names, fields_spec)

    def _crm_check_lead(self, vals):
        """Refuse, before the list is computed, a deal the user cannot read."""
        lead_id = many2one_id(vals.get("lead_id"))
        if lead_id:
            check_readable(
                self.env["crm.lead"].browse(lead_id),
                self.env._("You cannot open this deal."),
            )

    def _crm_check_emails(self):
        """Emails given through RPC may name anyone's mail: every one must be readable."""
        for wizard in self:
            check_readable(
                wizard.email_ids, self.env._("You cannot open every email of this list.")
            )

    # ------------------------------------------------------------------ action
    def action_apply(self):
        self.ensure_one()
        lead = self.lead_id
        check_readable(lead, self.env._("You cannot open this deal."))
        check_writable(lead)
        if not self.email_ids:
            raise UserError(self._crm_empty_message())
        self._crm_check_emails()
        keys = [key for key in self.email_ids.mapped("thread_key") if key]
        emails = self.email_ids
        if keys:
            # Searched as the user: only mail they may read joins the deal.
            emails |= self.env["crm.email"].search(
                [("thread_key", "in", keys), ("lead_id", "=", False)]
            )
        # Mail already on another deal moves only with the right to change that deal.
        check_writable(emails.lead_id - lead, moving_away=True)
        emails._crm_set_deal(lead)
        return {"type": "ir.actions.act_window_close"}
