from odoo import api, fields, models
from odoo.exceptions import AccessError
from odoo.tools import SQL

from crm_mail_channel_core import dropbox_auth

DROPBOX_FOLDER = "BCC dropbox"


class CrmMailbox(models.Model):
    """A user's BCC dropbox: a mailbox without a server, fed by Odoo's incoming mail path.

    Mail sent to the dropbox address reaches Odoo through the catch-all mailbox
    (``fetchmail.server``) or the mail gateway; ``mail.thread.message_process`` hands it here
    (crm_dropbox_import.py), and it is stored by the same sync store as synced mail: one email
    per Message-ID and content, a presence in this mailbox's one folder, owned by its user with
    their sharing settings, quarantine when storing fails.

    The dropbox mailbox is archived (``active`` False) and of protocol ``dropbox``: every
    search for "the user's mailbox" (My Mailbox, the scheduled sync, the sender address, sent
    copies) leaves it out, and it is never synced. Its token (the random part of the address)
    and everything that makes it a dropbox change only through ``res.users`` actions, in
    superuser mode; the record rules of crm.mailbox (owner or administrator) keep the address
    from every other user.
    """

    _inherit = "crm.mailbox"

    protocol = fields.Selection(
        selection_add=[("dropbox", "BCC dropbox")], ondelete={"dropbox": "cascade"}
    )
    crm_dropbox_token = fields.Char(
        "Dropbox token", readonly=True, copy=False, index=True, groups="base.group_user"
    )

    # Shown in My Mailbox: the current user's own dropbox address (never another user's)
    crm_my_dropbox_email = fields.Char("My BCC dropbox", compute="_compute_crm_my_dropbox_email")

    _sql_constraints = [
        (
            "crm_dropbox_token_unique",
            "unique(crm_dropbox_token)",
            "A dropbox address belongs to one user.",
        ),
    ]

    def init(self):
        # One dropbox per user, even when two requests create it at once.
        self.env.cr.execute(
            SQL(
                """CREATE UNIQUE INDEX IF NOT EXISTS crm_mailbox_one_dropbox_per_user
                   ON crm_mailbox (user_id) WHERE protocol = 'dropbox'"""
            )
        )

    @api.depends("user_id")
    @api.depends_context("uid")
    def _compute_crm_my_dropbox_email(self):
        mine = self.env.user.crm_dropbox_email
        for mailbox in self:
            own = not mailbox.user_id or mailbox.user_id == self.env.user
            mailbox.crm_my_dropbox_email = mine if own else False

    # ------------------------------------------------------------------ guards
    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su and any(
            vals.get("protocol") == "dropbox" or vals.get("crm_dropbox_token") for vals in vals_list
        ):
            raise AccessError(self.env._("A dropbox is created from the user's preferences only."))
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.su and (
            vals.get("protocol") == "dropbox"
            or "crm_dropbox_token" in vals
            or self.filtered(lambda m: m.protocol == "dropbox")
        ):
            raise AccessError(
                self.env._("A dropbox changes only through its actions (Regenerate).")
            )
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_dropbox(self):
        if not self.env.su and self.filtered(lambda m: m.protocol == "dropbox"):
            raise AccessError(self.env._("A dropbox cannot be deleted."))

    def _sync(self, max_seconds=None):
        # A dropbox has no server: its mail arrives through message_process.
        dropboxes = self.filtered(lambda m: m.protocol == "dropbox")
        if dropboxes:
            return None
        return super()._sync(max_seconds=max_seconds)

    @api.model
    def action_open_my_mailbox(self):
        # My Mailbox shows the dropbox: the user gets theirs the first time they open it.
        self.env.user._crm_dropbox_ensure()
        return super().action_open_my_mailbox()

    # ------------------------------------------------------------------ addresses
    @api.model
    def _crm_dropbox_domains(self):
        """Names of the alias domains dropbox addresses may use."""
        # sudo: domain names only, to recognise dropbox addresses in any mail.
        return [d for d in self.env["mail.alias.domain"].sudo().search([]).mapped("name") if d]

    def _crm_dropbox_address(self):
        """``dropbox-<token>@<alias domain of the owner's company>``, or False."""
        self.ensure_one()
        # sudo: the owner's company alias domain, read for the address only.
        domain = self.sudo().user_id.company_id.alias_domain_id.name
        if not domain or not self.crm_dropbox_token:
            return False
        return dropbox_auth.dropbox_address(self.crm_dropbox_token, domain)

    @api.model
    def _crm_dropbox_of(self, user, create=False):
        """The dropbox mailbox of ``user`` in superuser mode (created when asked)."""
        # sudo: the callers checked that ``user`` is the current user or that an
        # administrator asks (res_users_dropbox.py); the routing runs as the system.
        # A clean context: the caller's (a mailbox form's defaults and checks) is not for it.
        Mailbox = self.with_env(self.env(context={"active_test": False}, su=True))
        dropbox = Mailbox.search([("user_id", "=", user.id), ("protocol", "=", "dropbox")])
        if dropbox or not create:
            return dropbox
        dropbox = Mailbox.create(
            {
                "name": DROPBOX_FOLDER,
                "user_id": user.id,
                "protocol": "dropbox",
                "state": "connected",
                "active": False,
                "crm_dropbox_token": self._crm_new_dropbox_token(),
            }
        )
        # sudo: the new dropbox's one folder (users cannot create folders).
        self.env["crm.mailbox.folder"].sudo().create(
            {"mailbox_id": dropbox.id, "name": DROPBOX_FOLDER, "role": "inbox"}
        )
        return dropbox

    @api.model
    def _crm_new_dropbox_token(self):
        while True:
            token = dropbox_auth.new_token()
            local = dropbox_auth.DROPBOX_PREFIX + token
            # sudo: checks that no alias of Odoo already answers to this local part.
            if not self.env["mail.alias"].sudo().search_count([("alias_name", "=", local)]):
                return token

    def _crm_regenerate_dropbox(self):
        """A new token: the old address stops working with this transaction."""
        self.ensure_one()
        # sudo: callers checked the owner (action_regenerate_crm_dropbox); the guard in
        # write() refuses any other change of the token.
        self.sudo().write({"crm_dropbox_token": self._crm_new_dropbox_token()})
