import re

from odoo import Command, api, fields, models
from odoo.exceptions import AccessError, MissingError, UserError

ACTIONS = [
    ("move", "Move to another deal"),
    ("new", "Move to a new deal"),
    ("unlink", "Unlink from its deal"),
]
# For an email without a deal, "move" links it to a deal, "new" to a new deal.
LINK_CHOICES = [("move", "Link to a deal"), ("new", "Link to a new deal")]
SCOPES = [("email", "This email only"), ("thread", "The whole conversation")]
# "Re:", "Fwd:", "AW:", "TR: " ... as mail clients put them before a subject, repeated or not.
REPLY_PREFIXES = re.compile(r"^\s*(?:(?:re|fwd?|aw|wg|tr|sv|vs|rv)\s*(?:\[\d+\])?\s*:\s*)+", re.I)


def strip_reply_prefixes(subject):
    """``subject`` without the reply and forward prefixes mail clients put before it."""
    return REPLY_PREFIXES.sub("", subject or "").strip()


def check_readable(records, message):
    """Raise an AccessError with ``message`` unless the current user may read ``records``.

    Odoo's own error lists the records by name (read as superuser) in debug mode: a
    wizard named after someone else's email must fail without naming it.
    """
    try:
        records.check_access("read")
    except (AccessError, MissingError):
        raise AccessError(message) from None


def many2one_id(value):
    """The id in a many2one value as written, or sent by the web client's onchange."""
    if isinstance(value, dict):
        value = value.get("id")
    elif isinstance(value, models.BaseModel):
        value = value.id
    return value if isinstance(value, int) else False


def x2many_ids(commands):
    """The ids an x2many value as written (commands or ids) links."""
    ids = []
    for command in commands or ():
        if isinstance(command, int):
            ids.append(command)
        elif command[0] == Command.SET:
            ids.extend(command[2])
        elif command[0] in (Command.LINK, Command.UPDATE):
            ids.append(command[1])
    return ids


def check_writable(leads, moving_away=False):
    """Raise a plain AccessError unless the current user may change every deal of ``leads``;
    the deal is named only when the user can read it."""
    for lead in leads:
        if lead.has_access("write"):
            continue
        env = lead.env
        name = lead.display_name if lead.has_access("read") else False
        if moving_away:
            message = (
                env._(
                    'You cannot move emails away from the deal "%s": you are not allowed '
                    "to change it.",
                    name,
                )
                if name
                else env._("You cannot move emails away from a deal you are not allowed to change.")
            )
        else:
            message = (
                env._(
                    'You cannot move emails to the deal "%s": you are not allowed to change it.',
                    name,
                )
                if name
                else env._("You cannot move emails to a deal you are not allowed to change.")
            )
        raise AccessError(message)


class CrmEmailRelinkWizard(models.TransientModel):
    """Correct the deal of an email or of its whole thread; the link becomes "manual".

    Everything here is computed as the current user (Odoo computes stored and related fields
    as superuser by default), and create/write refuse an email or deal the user cannot read.
    """

    _name = "crm.email.relink.wizard"
    _description = "Move an Email to Another Deal"

    # The email and where it is now
    email_id = fields.Many2one("crm.email", required=True, ondelete="cascade")
    current_lead_id = fields.Many2one(
        "crm.lead", "Current deal", compute="_compute_current_lead_id", compute_sudo=False
    )
    link_reason = fields.Selection(
        related="email_id.link_reason", string="Linked because", related_sudo=False
    )
    # What moves
    scope = fields.Selection(SCOPES, "Which emails", required=True, default="email")
    thread_count = fields.Integer(
        "Emails in the conversation", compute="_compute_thread_count", compute_sudo=False
    )
    # Where it goes
    action = fields.Selection(ACTIONS, "What to do", required=True, default="move")
    link_choice = fields.Selection(
        LINK_CHOICES,
        "How to link it",
        compute="_compute_link_choice",
        inverse="_inverse_link_choice",
        help="For an email without a deal.",
    )
    allowed_lead_ids = fields.Many2many(
        "crm.lead",
        string="Deals to choose from",
        compute="_compute_allowed_lead_ids",
        compute_sudo=False,
    )
    lead_id = fields.Many2one(
        "crm.lead",
        "Deal",
        domain="[('id', 'in', allowed_lead_ids)]",
        help="Open deals of the email's contact or of its company.",
    )
    contact_id = fields.Many2one(
        "res.partner",
        "Contact of the new deal",
        compute="_compute_contact_id",
        compute_sudo=False,
        store=True,
        readonly=False,
    )
    new_lead_name = fields.Char(
        "Name of the new deal",
        compute="_compute_new_lead_name",
        compute_sudo=False,
        store=True,
        readonly=False,
    )

    # ------------------------------------------------------------------ computes
    def _crm_readable_email(self):
        """The wizard's email when the current user may read it, else an empty record."""
        self.ensure_one()
        email = self.email_id
        return email if email and email.has_access("read") else email.browse()

    @api.depends_context("uid")
    @api.depends("email_id")
    def _compute_current_lead_id(self):
        for wizard in self:
            lead = wizard._crm_readable_email().lead_id
            wizard.current_lead_id = lead if lead and lead.has_access("read") else False

    @api.depends_context("uid")
    @api.depends("email_id")
    def _compute_thread_count(self):
        for wizard in self:
            email = wizard._crm_readable_email()
            wizard.thread_count = len(email._crm_thread()) if email else 0

    @api.depends("email_id")
    def _compute_contact_id(self):
        for wizard in self:
            email = wizard._crm_readable_email()
            wizard.contact_id = email._crm_reply_partner() if email else False

    @api.depends("email_id")
    def _compute_new_lead_name(self):
        for wizard in self:
            email = wizard._crm_readable_email()
            wizard.new_lead_name = strip_reply_prefixes(email.subject) or self.env._("New deal")

    @api.depends("action")
    def _compute_link_choice(self):
        for wizard in self:
            wizard.link_choice = "new" if wizard.action == "new" else "move"

    def _inverse_link_choice(self):
        # Only an email without a deal is linked through this choice.
        for wizard in self:
            if wizard.link_choice and not wizard.current_lead_id:
                wizard.action = wizard.link_choice

    @api.depends_context("uid")
    @api.depends("email_id")
    def _compute_allowed_lead_ids(self):
        Lead = self.env["crm.lead"]
        for wizard in self:
            companies = wizard._crm_companies()
            # The other open deals of the contact's company, searched as the user.
            wizard.allowed_lead_ids = (
                Lead.search(
                    [
                        ("partner_id", "child_of", companies.ids),
                        ("id", "!=", wizard.current_lead_id.id),
                        ("stage_id.is_won", "=", False),
                    ],
                    limit=200,
                )
                if companies
                else Lead
            )

    # ------------------------------------------------------------------ CRUD
    @api.model_create_multi
    def create(self, vals_list):
        defaults = self.default_get(["email_id", "lead_id", "contact_id"])
        for vals in vals_list:
            self._crm_check_values({**defaults, **vals})
        return super().create(vals_list)

    def write(self, vals):
        self._crm_check_values(vals)
        return super().write(vals)

    def onchange(self, values, field_names, fields_spec):
        # The form's onchange answers with many2one names read as superuser (web's
        # onchange/web_read): refuse an email or deal the user cannot read first.
        self._crm_check_values(
            {**self.default_get(["email_id", "lead_id", "contact_id"]), **values}
        )
        return super().onchange(values, field_names, fields_spec)

    def _crm_check_values(self, vals):
        """Refuse, before anything is computed, an email or deal the user cannot read."""
        for fname, model, message in (
            ("email_id", "crm.email", self.env._("You cannot open this email.")),
            ("lead_id", "crm.lead", self.env._("You cannot open this deal.")),
            ("contact_id", "res.partner", self.env._("You cannot open this contact.")),
        ):
            record_id = many2one_id(vals.get(fname))
            if record_id:
                check_readable(self.env[model].browse(record_id), message)

    # ------------------------------------------------------------------ action
    def _crm_companies(self):
        """Commercial entities (company, or the person without one) of the email's contacts."""
        self.ensure_one()
        email = self._crm_readable_email()
        # sudo: the email is readable (_crm_readable_email); its contacts' companies only
        # choose which deals the user may search for, as the user.
        contacts = email.sudo().partner_ids.filtered(
            lambda p: not p.user_ids.filtered(lambda u: not u.share)
        )
        # The company of the deal it is on (readable by the user) counts too.
        lead = email.lead_id
        if lead and lead.has_access("read"):
            contacts |= lead.partner_id
        return contacts.commercial_partner_id

    def _crm_target_emails(self):
        self.ensure_one()
        return self.email_id._crm_thread() if self.scope == "thread" else self.email_id

    def action_apply(self):
        self.ensure_one()
        email = self.email_id
        check_readable(email, self.env._("You cannot open this email."))
        emails = self._crm_target_emails()
        check_readable(emails, self.env._("You cannot open every email of this conversation."))
        if self.action == "unlink":
            target = self.env["crm.lead"]
        elif self.action == "new":
            contact = self.contact_id or email._crm_reply_partner()
            if not contact:
                raise UserError(self.env._("This email has no contact to create a deal for."))
            check_readable(contact, self.env._("You cannot open this contact."))
            target = self.env["crm.lead"].create(
                {
                    "name": self.new_lead_name
                    or strip_reply_prefixes(email.subject)
                    or self.env._("New deal"),
                    "partner_id": contact.id,
                    "type": "opportunity",
                    "user_id": self.env.uid,
                }
            )
        else:
            if not self.lead_id:
                raise UserError(self.env._("Choose the deal to move the email to."))
            target = self.lead_id
            check_writable(target)
            companies = self._crm_companies()
            # sudo: the user may change the target deal (checked just above).
            if target.sudo().partner_id.commercial_partner_id not in companies:
                raise UserError(
                    self.env._(
                        '"%s" is not a deal of this email\'s contact or company.',
                        target.display_name,
                    )
                )
        # Moving needs the right to change both deals: where the mail is, and where it goes.
        check_writable(emails.lead_id - target, moving_away=True)
        check_writable(target)
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
