from odoo import api, fields, models, tools

from crm_mail_channel_core import identity

CRM_COMPOSER_MODELS = ("res.partner", "crm.lead")


class MailComposeMessage(models.TransientModel):
    """Odoo's composer on a contact or a deal, written like a mail client: From, Cc, Bcc.

    The From shown is the From the mail leaves with: when Odoo will rewrite it (no outgoing
    mail server accepts it), the composer says so before sending.
    """

    _inherit = "mail.compose.message"

    # Shown on a contact's or a deal's composer only
    crm_is_crm_composer = fields.Boolean("Written from CRM", compute="_compute_crm_is_crm_composer")
    crm_cc_partner_ids = fields.Many2many(
        "res.partner",
        "mail_compose_message_crm_cc_rel",
        "wizard_id",
        "partner_id",
        string="Cc",
        help="They receive the email, and the other recipients see them.",
    )
    crm_bcc_partner_ids = fields.Many2many(
        "res.partner",
        "mail_compose_message_crm_bcc_rel",
        "wizard_id",
        "partner_id",
        string="Bcc",
        help="They receive a copy; nobody else sees them, and the email kept in CRM does not "
        "name them.",
    )
    # Said before sending
    crm_sender_notice = fields.Char("About the From", compute="_compute_crm_sender_notice")
    crm_domain_warning = fields.Char(
        "About the authentication", compute="_compute_crm_domain_warning"
    )
    crm_recipient_notice = fields.Char(
        "About the recipients", compute="_compute_crm_recipient_notice"
    )

    # ------------------------------------------------------------------ computes
    @api.depends("model", "composition_mode", "composition_batch")
    def _compute_crm_is_crm_composer(self):
        for composer in self:
            composer.crm_is_crm_composer = composer._crm_is_crm_composer()

    def _crm_is_crm_composer(self):
        self.ensure_one()
        return (
            self.model in CRM_COMPOSER_MODELS
            and self.composition_mode == "comment"
            and not self.composition_batch
        )

    def _crm_record(self):
        """The contact or deal written from, when the current user may read it."""
        self.ensure_one()
        if not self._crm_is_crm_composer():
            return None
        res_ids = self._evaluate_res_ids()
        record = self.env[self.model].browse(res_ids[:1])
        return record if record and record.has_access("read") else None

    def _compute_authorship(self):
        # Odoo falls back on the user's own email; from CRM the user writes as their mailbox.
        result = super()._compute_authorship()
        fallback = self.env.user.email_formatted
        for composer in self:
            if composer._crm_is_crm_composer() and composer.email_from == fallback:
                composer.email_from = composer._crm_default_sender()
        return result

    @api.model
    def _crm_default_sender(self):
        """The user's mailbox address (its login, when an address), else their own email."""
        user = self.env.user
        # sudo: the current user's own mailboxes, read for their login only.
        mailboxes = self.env["crm.mailbox"].sudo().search([("user_id", "=", user.id)], order="id")
        # A connected mailbox first.
        for mailbox in mailboxes.sorted(lambda m: m.state == "draft"):
            address = tools.email_normalize(mailbox.login or "")
            if address:
                return tools.formataddr((user.name or "", address))
        return user.email_formatted

    def _crm_sent_from_address(self, record, address):
        """The From address Odoo will really send with, for mail posted on ``record``."""
        return self._crm_sending_route(record, address)[0]

    def _crm_sending_route(self, record, address):
        """``(From address sent, outgoing server)`` for mail from ``address`` on ``record``.

        Same choice as mail.mail when sending: the alias domain of the record gives the
        notification address, and ``_find_mail_server`` says whether an outgoing server
        accepts ``address`` or Odoo falls back on the notification address.
        """
        self.ensure_one()
        IrMailServer = self.env["ir.mail_server"]
        if self.mail_server_id:
            return address, self.mail_server_id
        # sudo: the record's alias domain, read as message_post reads it.
        alias_domain = record.sudo()._mail_get_alias_domains(default_company=self.env.company)[
            record.id
        ]
        # sudo: the outgoing servers' FROM filters, read as mail.mail reads them to send.
        servers = IrMailServer.sudo()
        if alias_domain.default_from_email:
            servers = servers.with_context(
                domain_notifications_email=alias_domain.default_from_email
            )
        notifications = tools.email_normalize(
            alias_domain.default_from_email or servers._get_default_from_address() or ""
        )
        server, smtp_from = servers._find_mail_server(
            address, servers.search([("active", "=", True)], order="sequence, id")
        )
        if (
            notifications
            and address != notifications
            and tools.email_normalize(smtp_from or "") == notifications
        ):
            return notifications, server or IrMailServer
        return address, server or IrMailServer

    def _compute_subject(self):
        # Odoo proposes the record's name as subject; a contact's name is no subject.
        result = super()._compute_subject()
        for composer in self:
            if (
                composer._crm_is_crm_composer()
                and composer.model == "res.partner"
                and not composer.template_id.subject
                and not composer.parent_id
                and composer.subject == composer._crm_record_display_name()
            ):
                composer.subject = False
        return result

    def _crm_record_display_name(self):
        record = self._crm_record()
        return record.display_name if record else None

    @api.depends("email_from", "model", "res_ids", "composition_mode", "mail_server_id")
    @api.depends_context("uid")
    def _compute_crm_sender_notice(self):
        for composer in self:
            composer.crm_sender_notice = False
            record = composer._crm_record()
            chosen = tools.email_normalize(composer.email_from or "")
            if record is None or not chosen:
                continue
            sent, server = composer._crm_sending_route(record, chosen)
            if not sent or sent == chosen:
                continue
            domain = chosen.rsplit("@", 1)[1]
            if server and not server.from_filter:
                composer.crm_sender_notice = self.env._(
                    "Odoo will send this email as %(sent)s, not %(chosen)s: the outgoing mail "
                    "server %(server)s has no FROM filter, so Odoo uses its notification "
                    "address. Answers still come to you. An administrator can set its FROM "
                    "filter to %(domain)s in Settings › Technical › Outgoing Mail Servers.",
                    sent=sent,
                    chosen=chosen,
                    server=server.sudo().name,  # sudo: the name of the server that sends it.
                    domain=domain,
                )
            else:
                composer.crm_sender_notice = self.env._(
                    "Odoo will send this email as %(sent)s, not %(chosen)s, because no "
                    "outgoing mail server is set up for %(domain)s. Answers still come to you. "
                    "An administrator can add one in Settings › Technical › Outgoing Mail "
                    "Servers, with %(domain)s as its FROM filter.",
                    sent=sent,
                    chosen=chosen,
                    domain=domain,
                )

    @api.depends("email_from", "model", "res_ids", "composition_mode", "mail_server_id")
    @api.depends_context("uid")
    def _compute_crm_domain_warning(self):
        domains = self.env["crm.mail.domain"]
        for composer in self:
            composer.crm_domain_warning = False
            if not composer._crm_is_crm_composer():
                continue
            chosen = tools.email_normalize(composer.email_from or self.env.user.email or "")
            if not chosen:
                continue
            record = composer._crm_record()
            # Warn about the From that really leaves, after Odoo's own rewriting.
            email = (record and composer._crm_sent_from_address(record, chosen)) or chosen
            domain = email.rsplit("@", 1)[1]
            if not domains._is_authenticated_domain(domain):
                composer.crm_domain_warning = self.env._(
                    "%(domain)s is not authenticated for sending from Odoo: receivers may put "
                    "this email in spam. Ask your administrator to set it up in Settings › CRM › "
                    "Email Authentication.",
                    domain=domain,
                )
                continue
            # The mail will be created by the current user, so it is sent for them.
            refusal = self.env["ir.mail_server"]._crm_signing_refusal(email, self.env.uid)
            if refusal:
                composer.crm_domain_warning = self.env._(
                    "This email will not be DKIM-signed because %(reason)s. Receivers may put "
                    "it in spam or refuse it: choose your own address as From.",
                    reason=refusal,
                )

    @api.depends("model", "res_ids", "composition_mode", "partner_ids")
    @api.depends_context("uid")
    def _compute_crm_recipient_notice(self):
        for composer in self:
            composer.crm_recipient_notice = False
            record = composer._crm_record()
            if record is None:
                continue
            company = record if record._name == "res.partner" else record.partner_id
            if not company.is_company or company.email:
                continue
            contacts = company._crm_contacts_with_address()
            if not contacts:
                composer.crm_recipient_notice = self.env._(
                    "%(company)s has no email address, and none of its contacts has one. Add "
                    "the address of the person you write to in To.",
                    company=company.display_name,
                )
            elif contacts <= composer.partner_ids._origin:
                composer.crm_recipient_notice = self.env._(
                    "%(company)s has no email address: its contacts are in To. Remove those "
                    "who should not receive this email.",
                    company=company.display_name,
                )
            else:
                composer.crm_recipient_notice = self.env._(
                    "%(company)s has no email address. Its contacts with one: %(contacts)s. "
                    "Add those who should receive this email in To.",
                    company=company.display_name,
                    contacts=", ".join(contacts.mapped("email_formatted")),
                )

    # ------------------------------------------------------------------ sending
    def _prepare_mail_values(self, res_ids):
        values_all = super()._prepare_mail_values(res_ids)
        if self._crm_is_crm_composer() and tools.email_normalize(self.email_from or ""):
            # Written as oneself: answers come to the sender's own mailbox (and back into CRM
            # through its sync), not to an alias, even when Odoo rewrites the From.
            for values in values_all.values():
                values["reply_to"] = self.email_from
        return values_all

    def _action_send_mail_comment(self, res_ids):
        if not self._crm_is_crm_composer():
            return super()._action_send_mail_comment(res_ids)
        cc = ", ".join(p.email_formatted for p in self.crm_cc_partner_ids if p.email)
        copies = (self.crm_cc_partner_ids | self.crm_bcc_partner_ids).filtered("email")
        # Read by the record's notification hook while this post is sent (see
        # res.partner._crm_outgoing_cc): the Cc header only, every envelope stays Odoo's.
        composer = self.with_context(crm_mail_channel_email_cc=cc) if cc else self
        messages = super(MailComposeMessage, composer)._action_send_mail_comment(res_ids)
        for message in messages:
            if cc:
                self._crm_note_cc(message, cc)
            for partner in copies:
                self._crm_send_copy(message, partner, cc)
        return messages

    def _crm_note_cc(self, message, cc):
        """Keep the Cc on the email recorded for ``message`` (never the Bcc)."""
        # sudo: the Message-ID of the message the current user just posted.
        message_id = identity.shorten_message_id(message.sudo().message_id)
        # sudo: the row of the message the current user just posted, found by its own
        # placeholder fingerprint; only its Cc is written.
        self.env["crm.email"].sudo().search(
            [
                ("message_id", "=", message_id),
                ("fingerprint", "=", identity.posted_fingerprint(message_id, message.id)),
            ]
        ).write({"email_cc": cc})

    def _crm_send_copy(self, message, partner, cc):
        """Send a Cc or Bcc recipient their copy, with the headers everyone sees.

        Odoo sends one mail per recipient, addressed to them only; a copy shows To (the
        message's recipients) and Cc like a mail client, while its envelope goes to
        ``partner`` alone. No header of any copy names a Bcc recipient.
        """
        # sudo: the message was just posted by the current user (message_post checked it).
        message_sudo = message.sudo()
        headers = {}
        to = ", ".join(p.email_formatted for p in message_sudo.partner_ids if p.email)
        if to:
            headers["X-Forge-To"] = to
        if cc:
            headers["Cc"] = cc
        values = {
            "mail_message_id": message_sudo.id,
            "email_to": partner.email_formatted,
            "body_html": message_sudo.body,
            "auto_delete": True,
            "is_notification": True,
            "headers": repr(headers),
            "record_alias_domain_id": message_sudo.record_alias_domain_id.id,
            "mail_server_id": message_sudo.mail_server_id.id,
        }
        values = self.env["crm.email"]._crm_threading_mail_values(message_sudo, values)
        # sudo: mail.mail is technical; created for the user's own message, to the addresses
        # they chose. The creator stays the user, so DKIM signs only the user's own From.
        mail = self.env["mail.mail"].sudo().create(values)
        # Like the notification itself: sent once the post is committed.
        mail.send_after_commit()
        return mail
