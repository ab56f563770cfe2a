from odoo import api, fields, models
from odoo.exceptions import AccessError

CONTACT_POLICIES = [
    ("link", "Only link to existing contacts"),
    ("create", "Also create a contact for an unknown person"),
]


class ResUsers(models.Model):
    """The user's BCC dropbox: its address, Regenerate, its settings.

    The address is read from the user's dropbox mailbox with the reader's own rights
    (crm.mailbox rules: owner or administrator), so nobody else ever reads it. It is given
    when its owner first opens My Mailbox (or the dropbox dialog, or Regenerate).
    """

    _inherit = "res.users"

    crm_dropbox_email = fields.Char(
        "BCC dropbox address",
        compute="_compute_crm_dropbox_email",
        help="Put this address in Bcc (or forward mail to it): the mail is stored in CRM as "
        "yours, on the contacts it names, with your sharing settings.",
    )
    crm_dropbox_contact_policy = fields.Selection(
        CONTACT_POLICIES,
        "Unknown people in dropbox mail",
        default="link",
        required=True,
    )
    # Not self-writeable: a self-write runs in superuser mode, which would let its commands
    # create verified rows. Rows are added with their own form (action_crm_dropbox_add_sender).
    crm_dropbox_sender_ids = fields.One2many(
        "crm.dropbox.sender", "user_id", "Other addresses I send from", readonly=True
    )
    crm_dropbox_own_addresses = fields.Text(
        "Addresses accepted", compute="_compute_crm_dropbox_email"
    )

    @property
    def SELF_READABLE_FIELDS(self):
        return [
            *super().SELF_READABLE_FIELDS,
            "crm_dropbox_email",
            "crm_dropbox_contact_policy",
            "crm_dropbox_sender_ids",
            "crm_dropbox_own_addresses",
        ]

    @property
    def SELF_WRITEABLE_FIELDS(self):
        return [
            *super().SELF_WRITEABLE_FIELDS,
            "crm_dropbox_contact_policy",
        ]

    @api.depends_context("uid")
    def _compute_crm_dropbox_email(self):
        Mailbox = self.env["crm.mailbox"]
        for user in self:
            user.crm_dropbox_email = False
            user.crm_dropbox_own_addresses = False
            if not user._origin.id or user.share:
                continue
            mine = user._origin == self.env.user
            if not (mine or self.env.su or self.env.user.has_group("base.group_system")):
                continue  # another user's dropbox is never shown
            # Never created here: reads may run in a read-only transaction (Odoo 18).
            dropbox = Mailbox._crm_dropbox_of(user._origin)
            user.crm_dropbox_email = dropbox._crm_dropbox_address() if dropbox else False
            user.crm_dropbox_own_addresses = "\n".join(user._origin._crm_dropbox_addresses())

    def _crm_dropbox_addresses(self):
        """The addresses this user may send to their dropbox from (for the screen)."""
        self.ensure_one()
        # sudo: the user's own mailbox logins and verified addresses, listed for themselves.
        user = self.sudo()
        found = [user.email_normalized, user.login]
        found += user.with_context(active_test=False).crm_mailbox_ids.mapped("login")
        found += user.crm_dropbox_sender_ids.filtered(lambda s: s.state == "verified").mapped(
            "email_normalized"
        )
        result = []
        for address in found:
            address = (address or "").strip().lower()
            if "@" in address and address not in result:
                result.append(address)
        return result

    def _crm_dropbox_ensure(self):
        """Give the current user their dropbox if they have none yet (a write: call it from
        actions, never from a read)."""
        self.ensure_one()
        if self == self.env.user and not self.share:
            self.env["crm.mailbox"]._crm_dropbox_of(self, create=True)
            self.invalidate_recordset(["crm_dropbox_email"])

    def action_regenerate_crm_dropbox(self):
        """A new dropbox address for the current user; the old one stops working at once."""
        self.ensure_one()
        if self != self.env.user and not self.env.su:
            raise AccessError(self.env._("Only its owner can regenerate a dropbox address."))
        Mailbox = self.env["crm.mailbox"]
        dropbox = Mailbox._crm_dropbox_of(self)
        if dropbox:
            dropbox._crm_regenerate_dropbox()
        else:
            Mailbox._crm_dropbox_of(self, create=True)
        self.invalidate_recordset(["crm_dropbox_email"])
        return True

    def action_crm_dropbox_add_sender(self):
        """A form to add one more address the current user sends from."""
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Add an address"),
            "res_model": "crm.dropbox.sender",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
        }

    @api.model
    def action_crm_dropbox_dialog(self):
        """The current user's own dropbox, in a dialog."""
        self.env.user._crm_dropbox_ensure()
        view = self.env.ref("crm_mail_channel.res_users_view_form_crm_dropbox_dialog")
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("My BCC dropbox"),
            "res_model": "res.users",
            "res_id": self.env.uid,
            "view_mode": "form",
            "views": [(view.id, "form")],
            "target": "new",
        }
