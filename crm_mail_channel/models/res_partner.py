import ast

from odoo import api, fields, models
from odoo.tools import SQL, email_normalize_all
from odoo.tools.mail import email_split_and_format

# A company without an address: at most this many of its contacts are put in To for the user.
MAX_PREFILLED_CONTACTS = 3


class ResPartner(models.Model):
    _inherit = "res.partner"

    crm_email_count = fields.Integer("Emails", compute="_compute_crm_email_count")

    def _crm_email_domain(self):
        """Emails of this contact, or of all contacts of this company."""
        self.ensure_one()
        # Company: same emails as ("partner_ids", "child_of", company), searched through an
        # index-friendly field (see crm.email.partner_ancestor_ids).
        return (
            [("partner_ancestor_ids", "in", self.commercial_partner_id.ids)]
            if (self.is_company)
            else [("partner_ids", "in", self.ids)]
        )

    @api.depends_context("uid")  # sharing: per-user value
    def _compute_crm_email_count(self):
        emails = self.env["crm.email"]
        for partner in self:
            partner.crm_email_count = (
                emails.search_count(partner._crm_email_domain()) if partner.id else 0
            )

    # ------------------------------------------------------------------ mailbox sync
    crm_email_ids = fields.Many2many(
        "crm.email",
        string="Synced emails",
        compute="_compute_crm_email_ids",
    )

    @api.depends_context("uid")  # sharing: per-user value
    def _compute_crm_email_ids(self):
        emails = self.env["crm.email"]
        for partner in self:
            partner.crm_email_ids = (
                emails.search(partner._crm_email_domain(), limit=200) if partner.id else emails
            )

    def action_view_crm_emails(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Emails"),
            "res_model": "crm.email",
            "view_mode": "list,form",
            "views": [(False, "list"), (False, "form")],
            "domain": self._crm_email_domain(),
            "context": {"create": False},
            "help": self.env["crm.email"]._crm_empty_help("partner"),
        }

    @api.model_create_multi
    def create(self, vals_list):
        partners = super().create(vals_list)
        partners.filtered("email")._crm_mark_unmatched_for_rescan()
        return partners

    def write(self, vals):
        before = self.mapped("email") if "email" in vals and self.user_ids else []
        res = super().write(vals)
        if vals.get("email"):
            self._crm_mark_unmatched_for_rescan()
        if "email" in vals and self.user_ids:
            # A user's address changed: mail naming the old or new one may change status.
            addresses = [a for a in before + self.mapped("email") if a]
            self.env["crm.email"]._crm_recompute_colleague_mail(addresses=addresses)
        return res

    def _crm_mark_unmatched_for_rescan(self):
        """Past mail of a new address is fetched and imported at the next sync."""
        addresses = list(
            {addr for partner in self for addr in email_normalize_all(partner.email or "")}
        )
        if not addresses:
            return
        self.env["crm.mailbox.unmatched"].flush_model()
        self.env.cr.execute(
            SQL(
                """UPDATE crm_mailbox_unmatched SET rescan = true
               WHERE address = ANY(%s) AND rescan IS NOT TRUE""",
                addresses,
            )
        )
        if self.env.cr.rowcount:
            self.env["crm.mailbox.unmatched"].invalidate_model(["rescan"])
            cron = self.env.ref("crm_mail_channel.ir_cron_sync_mailboxes", raise_if_not_found=False)
            if cron:
                cron.sudo()._trigger()  # sudo: waking the sync cron early changes no data.

    # ------------------------------------------------------------------ sending
    def action_crm_send_email(self):
        """Odoo's composer on this contact (or company), addressed to it."""
        self.ensure_one()
        return self._crm_composer_action_for(self, self)

    @api.model
    def _crm_composer_action(self, partners=None, subject=None, extra_context=None):
        """Odoo's composer on this contact (used by Reply on mail without a deal)."""
        self.ensure_one()
        return self._crm_composer_action_for(
            self, partners, subject=subject, extra_context=extra_context
        )

    def _crm_composer_action_for(self, record, partners, subject=None, extra_context=None):
        """``mail.compose.message`` in comment mode on ``record``, to ``partners``.

        Templates of the record's model are offered by the composer; the author is the current
        user, and the From their mailbox's address (see mail.compose.message). A company
        without an address is replaced by its contacts who have one (a few at most), so
        Odoo does not ask to edit the company over the composer.
        """
        record.ensure_one()
        context = {
            "default_model": record._name,
            "default_res_ids": record.ids,
            "default_composition_mode": "comment",
            "default_partner_ids": (partners or self)._crm_recipients().ids,
            "default_email_layout_xmlid": "mail.mail_notification_light",
            "mail_post_autofollow": False,
        }
        if subject:
            context["default_subject"] = subject
        context.update(extra_context or {})
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("New email"),
            "res_model": "mail.compose.message",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": context,
        }

    def _crm_recipients(self):
        """These contacts as recipients: a company without an address gives way to its
        contacts with one, when they are few enough to be meant (the composer names them
        otherwise)."""
        recipients = self.browse()
        for partner in self:
            if partner.email or not partner.is_company:
                recipients |= partner
                continue
            contacts = partner._crm_contacts_with_address()
            if len(contacts) <= MAX_PREFILLED_CONTACTS:
                recipients |= contacts
        return recipients

    def _crm_contacts_with_address(self):
        """The people of this company who have an email address, readable by the user."""
        self.ensure_one()
        return self.search(
            [
                ("id", "child_of", self.commercial_partner_id.id),
                ("id", "!=", self.id),
                ("is_company", "=", False),
                ("email", "!=", False),
            ],
            order="name, id",
            limit=50,
        )

    def _crm_outgoing_cc(self, values):
        """The Cc chosen in the composer, as a header of the mail this post sends.

        Only the header: mail.mail sends each copy to its own recipients (its validated
        envelope), and the composer sends the Cc recipients their copy itself.
        """
        cc = self.env.context.get("crm_mail_channel_email_cc")
        # Addresses only, one line: what the context says never becomes another header.
        addresses = email_split_and_format(cc) if isinstance(cc, str) else []
        if addresses:
            headers = ast.literal_eval(values["headers"]) if values.get("headers") else {}
            headers["Cc"] = ", ".join(addresses)
            values["headers"] = repr(headers)
        return values

    def _message_post_after_hook(self, message, msg_values):
        result = super()._message_post_after_hook(message, msg_values)
        if len(self) == 1:
            self.env["crm.email"]._crm_record_sent_message(self, message)
        return result

    def _notify_by_email_get_base_mail_values(self, message, additional_values=None):
        values = super()._notify_by_email_get_base_mail_values(
            message, additional_values=additional_values
        )
        values = self.env["crm.email"]._crm_threading_mail_values(message, values)
        return self._crm_outgoing_cc(values)

    # ------------------------------------------------------------------ sharing
    email_shared_by_me = fields.Boolean(
        "Share my emails with this contact",
        compute="_compute_email_shared_by_me",
        inverse="_inverse_email_shared_by_me",
        help="Custom sharing mode: your synced emails with this contact are shared.",
    )

    @api.depends_context("uid")
    def _compute_email_shared_by_me(self):
        # sudo: the current user's own preference.
        shared = self.env.user.sudo().email_shared_partner_ids
        for partner in self:
            partner.email_shared_by_me = partner in shared

    def _inverse_email_shared_by_me(self):
        for partner in self:
            partner.set_email_sharing(partner.email_shared_by_me)

    def set_email_sharing(self, shared):
        """Set the current user's custom-mode switch for these contacts.

        Takes effect at once: the owner's presences of these contacts' emails are
        recomputed by this write, so the next query in any worker sees it.
        """
        self.check_access("read")
        command = fields.Command.link if shared else fields.Command.unlink
        # sudo: the current user's own sharing list, for contacts they may read (checked above).
        self.env.user.sudo().write(
            {"email_shared_partner_ids": [command(partner.id) for partner in self]}
        )
        return True
