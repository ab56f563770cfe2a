from odoo import api, fields, models

from crm_mail_channel_core import sharing_domains

from .crm_mailbox import STATES

# How many names or domains a sentence lists before "and N more".
LISTED = 5


class ResUsers(models.Model):
    """The user's mailbox and who sees its mail, in plain words, for the preferences and
    the first-time My Mailbox screen."""

    _inherit = "res.users"

    # The user's own mailbox (computed with the reader's rights: another user sees none)
    crm_mailbox_state = fields.Selection(
        [("none", "Not set up"), *STATES],
        "My mailbox",
        compute="_compute_crm_mailbox",
    )
    crm_mailbox_login = fields.Char("Mailbox address", compute="_compute_crm_mailbox")
    # Who sees the mail synced from it, under the current sharing choice
    email_visibility_summary = fields.Text(
        "Who sees my emails", compute="_compute_email_visibility_summary"
    )

    @property
    def SELF_READABLE_FIELDS(self):
        return [
            *super().SELF_READABLE_FIELDS,
            "crm_mailbox_state",
            "crm_mailbox_login",
            "email_visibility_summary",
        ]

    # ------------------------------------------------------------------ computes
    @api.depends("crm_mailbox_ids.state", "crm_mailbox_ids.login")
    @api.depends_context("uid")
    def _compute_crm_mailbox(self):
        mailboxes = self.env["crm.mailbox"].search([("user_id", "in", self.ids)])
        for user in self:
            mailbox = mailboxes.filtered(lambda m, u=user: m.user_id == u)[:1]
            user.crm_mailbox_state = mailbox.state or "none"
            user.crm_mailbox_login = mailbox.login or False

    @api.depends(
        "email_sharing_mode",
        "email_audience_user_ids",
        "email_audience_group_ids",
        "email_superior_ids",
        "email_shared_partner_ids",
        "email_excluded_domains",
    )
    def _compute_email_visibility_summary(self):
        for user in self:
            user.email_visibility_summary = "\n".join(user._crm_visibility_sentences())

    # ------------------------------------------------------------------ actions
    @api.model
    def action_crm_email_sharing_dialog(self):
        """The current user's own sharing choice, in a dialog."""
        view = self.env.ref("crm_mail_channel.res_users_view_form_email_sharing_dialog")
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Who sees my emails"),
            "res_model": "res.users",
            "res_id": self.env.uid,
            "view_mode": "form",
            "views": [(view.id, "form")],
            "target": "new",
        }

    # ------------------------------------------------------------------ helpers
    def _crm_visibility_sentences(self):
        """Who sees this user's synced mail, exactly as the record rules decide it."""
        self.ensure_one()
        mode = self.email_sharing_mode
        sent = self.env._(
            "Emails you send from CRM are seen by everyone who can open their contact or deal."
        )
        if mode == "private":
            return [
                self.env._(
                    "Private: the emails synced from your mailbox are seen by you only, not by "
                    "your colleagues or managers."
                ),
                sent,
                self.env._("You can still share a single thread from the email itself."),
            ]
        audience = self._crm_audience_words()
        if mode == "public":
            lines = [
                self.env._(
                    "Public: the emails synced from your mailbox are seen by %(audience)s.",
                    audience=audience,
                )
            ]
        else:
            count = len(self.email_shared_partner_ids)
            if not count:
                lines = [
                    self.env._(
                        "Custom: you have not chosen any contact yet, so the emails synced from "
                        "your mailbox are seen by you only. Turn on sharing on a contact's form "
                        "to let %(audience)s see your emails with that contact.",
                        audience=audience,
                    )
                ]
            else:
                lines = [
                    self.env._(
                        "Custom: your emails with the contacts you chose (%(count)s) are seen "
                        "by %(audience)s. Your other emails are seen by you only.",
                        count=count,
                        audience=audience,
                    )
                ]
        if self.email_superior_ids:
            lines.append(
                self.env._(
                    "Your email managers see them too: %(names)s.",
                    names=self._crm_list_words(self.email_superior_ids.mapped("name")),
                )
            )
        lines.append(self._crm_level_words())
        exceptions = self.env._("Mail between colleagues always stays private.")
        if mode == "public":
            domains = self._crm_excluded_domains()
            if domains:
                exceptions = self.env._(
                    "Mail between colleagues always stays private, and so does mail whose "
                    "outside participants are all in %(domains)s.",
                    domains=self._crm_list_words(domains),
                )
        lines += [exceptions, sent]
        return lines

    def _crm_audience_words(self):
        if self.email_audience_everyone:
            return self.env._("every colleague who can open their contact or deal")
        names = self.email_audience_user_ids.mapped("name")
        names += [
            self.env._("the members of %(group)s", group=group.full_name)
            for group in self.email_audience_group_ids
        ]
        return self.env._(
            "%(names)s, when they can open the contact or deal",
            names=self._crm_list_words(names),
        )

    def _crm_level_words(self):
        parts = tuple(self.env["crm.email.content"]._audience_parts())
        if parts == ("subject", "body"):
            return self.env._("They see whole emails, attachments included.")
        if parts == ("subject",):
            return self.env._("They see the subject and participants, not the body or attachments.")
        return self.env._("They see only the participants and the date.")

    def _crm_excluded_domains(self):
        domains = self.env["res.config.settings"]._crm_email_org_excluded_domains()
        for domain in sharing_domains.parse_domain_list(self.email_excluded_domains):
            if domain not in domains:
                domains.append(domain)
        return domains

    def _crm_list_words(self, words):
        words = list(words)
        if len(words) > LISTED:
            more = len(words) - LISTED
            return self.env._(
                "%(names)s and %(count)s more", names=", ".join(words[:LISTED]), count=more
            )
        return ", ".join(words)
