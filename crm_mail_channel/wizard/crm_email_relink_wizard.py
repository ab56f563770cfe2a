from odoo import _, api, fields, models
from odoo.exceptions import AccessError, UserError

ACTIONS = [
    ("move", "Move to another deal"),
    ("new", "Move to a new deal"),
    ("unlink", "Unlink from its deal"),
]
SCOPES = [("email", "This email only"), ("thread", "The whole conversation")]


class CrmEmailRelinkWizard(models.TransientModel):
    """Correct the deal of an email or of its whole thread; the link becomes "manual"."""

    _name = "crm.email.relink.wizard"
    _description = "Move an Email to Another Deal"

    email_id = fields.Many2one("crm.email", required=True, ondelete="cascade")
    current_lead_id = fields.Many2one(related="email_id.lead_id", string="Current deal")
    link_reason = fields.Selection(related="email_id.link_reason", string="Linked because")
    scope = fields.Selection(SCOPES, required=True, default="email")
    thread_count = fields.Integer("Emails in the conversation", compute="_compute_thread_count")
    action = fields.Selection(ACTIONS, required=True, default="move")
    allowed_lead_ids = fields.Many2many("crm.lead", compute="_compute_allowed_lead_ids")
    lead_id = fields.Many2one(
        "crm.lead",
        "Deal",
        domain="[('id', 'in', allowed_lead_ids)]",
        help="Deals of the same contact or company.",
    )
    contact_id = fields.Many2one(
        "res.partner",
        "Contact of the new deal",
        compute="_compute_contact_id",
        store=True,
        readonly=False,
    )
    new_lead_name = fields.Char(
        "New deal",
        compute="_compute_new_lead_name",
        store=True,
        readonly=False,
    )

    @api.depends("email_id")
    def _compute_thread_count(self):
        for wizard in self:
            wizard.thread_count = len(wizard.email_id._crm_thread()) if wizard.email_id else 0

    @api.depends("email_id")
    def _compute_contact_id(self):
        for wizard in self:
            wizard.contact_id = wizard.email_id._crm_reply_partner() if wizard.email_id else False

    @api.depends("email_id")
    def _compute_new_lead_name(self):
        for wizard in self:
            wizard.new_lead_name = wizard.email_id.subject or _("New deal")

    @api.depends("email_id")
    def _compute_allowed_lead_ids(self):
        Lead = self.env["crm.lead"]
        for wizard in self:
            companies = wizard._crm_companies()
            wizard.allowed_lead_ids = (
                Lead.search(
                    [("partner_id", "child_of", companies.ids)],
                    limit=200,
                )
                if companies
                else Lead
            )

    def _crm_companies(self):
        """Commercial entities (company, or the person without one) of the email's contacts."""
        self.ensure_one()
        contacts = self.email_id.sudo().partner_ids.filtered(
            lambda p: not p.user_ids.filtered(lambda u: not u.share)
        )
        return contacts.commercial_partner_id

    def _crm_target_emails(self):
        self.ensure_one()
        return self.email_id._crm_thread() if self.scope == "thread" else self.email_id

    def _crm_check_can_write(self, lead):
        try:
            lead.check_access("write")
        except AccessError:
            raise AccessError(
                _(
                    'You cannot move emails to the deal "%s": you are not allowed to change it.',
                    lead.sudo().display_name,
                )
            ) from None

    def action_apply(self):
        self.ensure_one()
        email = self.email_id
        email.check_access("read")
        emails = self._crm_target_emails()
        if self.action == "unlink":
            target = self.env["crm.lead"]
        elif self.action == "new":
            contact = self.contact_id or email._crm_reply_partner()
            if not contact:
                raise UserError(_("This email has no contact to create a deal for."))
            target = self.env["crm.lead"].create(
                {
                    "name": self.new_lead_name or email.subject or _("New deal"),
                    "partner_id": contact.id,
                    "type": "opportunity",
                    "user_id": self.env.uid,
                }
            )
        else:
            if not self.lead_id:
                raise UserError(_("Choose the deal to move the email to."))
            target = self.lead_id
            self._crm_check_can_write(target)
            companies = self._crm_companies()
            if target.sudo().partner_id.commercial_partner_id not in companies:
                raise UserError(
                    _(
                        '"%s" is not a deal of this email\'s contact or company.',
                        target.display_name,
                    )
                )
        if target:
            self._crm_check_can_write(target)
        emails._crm_set_deal(target)
        if target:
            return {
                "type": "ir.actions.act_window",
                "res_model": "crm.lead",
                "res_id": target.id,
                "view_mode": "form",
                "views": [(False, "form")],
                "target": "current",
            }
        return {"type": "ir.actions.act_window_close"}
