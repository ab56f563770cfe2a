from odoo import api, fields, models
from odoo.exceptions import UserError

from crm_mail_channel_core import presets

# Set by the My Mailbox and Mailbox Health actions on the screens a person fills in: a
# password typed there is checked with the server when saved (see crm_mailbox_connection.py),
# and a user who already has a mailbox is not given a second one. It only ever adds checks.
FORM_CONTEXT_KEY = "crm_mailbox_form"
# Port each protocol and security use unless the provider says otherwise.
DEFAULT_PORTS = {
    ("imap", "ssl"): 993,
    ("imap", "starttls"): 143,
    ("imap", "none"): 143,
    ("pop3", "ssl"): 995,
    ("pop3", "starttls"): 110,
    ("pop3", "none"): 110,
}


def _preset_selection(_model=None):
    return [(key, preset.label) for key, preset in presets.PROVIDER_PRESETS.items()]


class CrmMailbox(models.Model):
    """Choosing the provider, and the first-time My Mailbox screen.

    One mailbox per user on the screens: My Mailbox opens the user's mailbox, or a new form
    that starts from the provider choice; it never creates a record by itself. Mailboxes made
    earlier or by scripts beyond the first keep working until their owner removes them.
    """

    _inherit = "crm.mailbox"

    # Provider
    preset = fields.Selection(
        _preset_selection,
        "Provider",
        help="Fills in the server, port and security your provider uses.",
    )
    preset_note = fields.Char("How to connect", compute="_compute_preset_note")
    preset_needs_oauth = fields.Boolean("Needs a provider sign-in", compute="_compute_preset_note")
    pop3_warning = fields.Text("About POP3", compute="_compute_preset_note")
    # First-time screen
    sharing_summary = fields.Text("Who sees these emails", compute="_compute_sharing_summary")
    other_mailbox_count = fields.Integer("Other mailboxes", compute="_compute_other_mailbox_count")

    # ------------------------------------------------------------------ computes
    @api.depends("preset", "protocol")
    def _compute_preset_note(self):
        for mailbox in self:
            preset = presets.PROVIDER_PRESETS.get(mailbox.preset or "")
            mailbox.preset_note = preset.note if preset else False
            # Once the addon that brings the provider's sign-in is installed, its Connect
            # button takes over; until then the form says so instead of asking a password.
            mailbox.preset_needs_oauth = bool(
                preset
                and preset.needs_oauth
                and preset.oauth_addon not in self.env.registry._init_modules
            )
            mailbox.pop3_warning = presets.POP3_WARNING

    @api.depends("user_id")
    @api.depends_context("uid")
    def _compute_sharing_summary(self):
        for mailbox in self:
            owner = mailbox.user_id or self.env.user
            mailbox.sharing_summary = owner.email_visibility_summary

    @api.depends("user_id")
    def _compute_other_mailbox_count(self):
        for mailbox in self:
            if not mailbox.user_id:
                mailbox.other_mailbox_count = 0
                continue
            mailbox.other_mailbox_count = self.search_count(
                [("user_id", "=", mailbox.user_id.id), ("id", "!=", mailbox._origin.id or 0)]
            )

    # ------------------------------------------------------------------ onchanges
    @api.onchange("preset")
    def _onchange_preset(self):
        preset = presets.PROVIDER_PRESETS.get(self.preset or "")
        if not preset:
            return
        self.protocol = preset.protocol
        known_hosts = {p.host for p in presets.PROVIDER_PRESETS.values() if p.host}
        if preset.host:
            self.host = preset.host
        elif self.host in known_hosts:
            self.host = False  # another provider's server: the user types their own
        self.port = preset.port
        self.security = preset.security

    @api.onchange("protocol", "security")
    def _onchange_protocol_port(self):
        # A provider's own port stays; a usual port follows the protocol and security.
        generic = not self.preset or self.preset.startswith("other_")
        if generic and (not self.port or self.port in DEFAULT_PORTS.values()):
            self.port = DEFAULT_PORTS[(self.protocol, self.security)]

    @api.onchange("security")
    def _onchange_security(self):
        # Without encryption there is no certificate to verify; with it, verify by default.
        self.ssl_verify = self.security != "none"

    # ------------------------------------------------------------------ CRUD
    @api.model_create_multi
    def create(self, vals_list):
        if self.env.context.get(FORM_CONTEXT_KEY):
            owners = {vals.get("user_id") or self.env.uid for vals in vals_list}
            existing = self.search([("user_id", "in", list(owners))], limit=1)
            if existing or len(owners) < len(vals_list):
                raise UserError(
                    self.env._(
                        "%(user)s already has a mailbox. Open it from CRM > Emails > My Mailbox.",
                        user=(existing.user_id or self.env.user).name,
                    )
                )
        return super().create(vals_list)

    # ------------------------------------------------------------------ actions
    @api.model
    def _crm_form_action(self, name, res_id=False):
        action = {
            "type": "ir.actions.act_window",
            "name": name,
            "res_model": "crm.mailbox",
            "view_mode": "form",
            "views": [(self.env.ref("crm_mail_channel.crm_mailbox_view_form").id, "form")],
            "target": "current",
            "context": {FORM_CONTEXT_KEY: True},
        }
        if res_id:
            action["res_id"] = res_id
        return action

    @api.model
    def action_open_my_mailbox(self):
        """The user's mailbox, or a new form (nothing is saved until they connect)."""
        mailbox = self.search([("user_id", "=", self.env.uid)], limit=1)
        return self._crm_form_action(self.env._("My Mailbox"), mailbox.id)

    def action_open_other_mailboxes(self):
        self.ensure_one()
        self._crm_check_owner(allow_admin=True)
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Other mailboxes"),
            "res_model": "crm.mailbox",
            "view_mode": "list,form",
            "views": [
                (self.env.ref("crm_mail_channel.crm_mailbox_view_list").id, "list"),
                (self.env.ref("crm_mail_channel.crm_mailbox_view_form").id, "form"),
            ],
            "domain": [("user_id", "=", self.user_id.id), ("id", "!=", self.id)],
            "context": {FORM_CONTEXT_KEY: True},
        }
