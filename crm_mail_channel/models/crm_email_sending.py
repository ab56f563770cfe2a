import ast

from markupsafe import Markup
from odoo import api, fields, models, tools
from odoo.exceptions import UserError
from odoo.tools import html2plaintext
from odoo.tools.misc import format_date, format_time

from crm_mail_channel_core import identity, linking


class CrmEmail(models.Model):
    """Mail sent from CRM through Odoo's composer, recorded as an email."""

    _inherit = "crm.email"

    # Sent from CRM
    sent_from_crm = fields.Boolean("Sent from CRM", readonly=True, index=True)
    crm_sender_user_id = fields.Many2one(
        "res.users",
        "Sent from CRM by",
        readonly=True,
        ondelete="set null",
        help="The user who sent this email from CRM; only their mailbox's copy of it is "
        "recognised as this email before its content fingerprint is known.",
    )
    dkim_unsigned_reason = fields.Char(
        "Not DKIM-signed because",
        readonly=True,
        help="Why this email left without a DKIM signature (its From was not the sender's "
        "own address, or its domain is not authenticated).",
    )

    def _crm_reply_partner(self):
        """The contact a reply goes to: the sender when a contact, else the first contact."""
        self.ensure_one()
        contacts = self.partner_ids.filtered(
            lambda p: not p.user_ids.filtered(lambda u: not u.share)
        )
        sender = tools.email_normalize(self.email_from or "")
        return contacts.filtered(lambda p: p.email_normalized == sender)[:1] or contacts[:1]

    def action_reply(self):
        """Odoo's composer, on the email's deal (or contact), answering and quoting it."""
        self.ensure_one()
        self.check_access("read")
        partner = self._crm_reply_partner()
        record = self.lead_id if self.lead_id and self.lead_id.has_access("read") else partner
        if not record:
            raise UserError(self.env._("This email has no contact to answer."))
        subject = self.subject or ""
        if subject and not subject.lower().startswith("re:"):
            subject = self.env._("Re: %s", subject)
        return record._crm_composer_action(
            partners=partner,
            subject=subject,
            extra_context={
                "crm_mail_channel_reply_email_id": self.id,
                "default_body": self._crm_reply_quote(),
            },
        )

    def _crm_reply_quote(self):
        """The body of an answer: room to write, then this email quoted, as the current user
        reads it (a subject-only or header-only email quotes no body)."""
        self.ensure_one()
        date = ""
        if self.date:
            tz = self.env.user.tz or "UTC"
            local = fields.Datetime.context_timestamp(self.with_context(tz=tz), self.date)
            date = self.env._(
                "%(date)s at %(time)s",
                date=format_date(self.env, local, date_format="medium"),
                time=format_time(self.env, self.date, tz=tz, time_format="short"),
            )
        sender = self.email_from or ""
        intro = (
            self.env._("On %(date)s, %(sender)s wrote:", date=date, sender=sender)
            if date
            else self.env._("%(sender)s wrote:", sender=sender)
        )
        # body_html is read as the current user: the content's visibility level applies.
        body = self.body_html or ""
        if not html2plaintext(body).strip():
            return Markup("<p><br></p>")
        return Markup(
            "<p><br></p><p><br></p>"
            '<div class="o_mail_reply_container"><p>%s</p>'
            '<blockquote data-o-mail-quote="1" style="margin: 0 0 0 0.8ex; '
            'border-left: 1px solid #ccc; padding-left: 1ex;">%s</blockquote></div>'
        ) % (intro, tools.html_sanitize(body))

    @api.model
    def _crm_is_sent_as_email(self, message):
        """A message posted as an email (not a note) by an internal user, to contacts."""
        if message.message_type != "comment" or not message.partner_ids:
            return False
        if message.subtype_id != self.env.ref("mail.mt_comment", raise_if_not_found=False):
            return False
        user = self.env.user
        return bool(user._is_internal() and not user._is_public())

    @api.model
    def _crm_record_sent_message(self, record, message):
        """Record mail posted as an email on a contact or a deal as a ``crm.email``.

        Each posted message gets its own row, even when the poster chose a Message-ID that
        already exists: a Message-ID alone never gives access to another email. The row's
        fingerprint is a placeholder until the sender's own mailbox brings the copy that left
        (see sync_store/emails.py), which then becomes the same email.
        """
        if not self._crm_is_sent_as_email(message):
            return self.browse()
        # sudo: reading the message just posted by the current user (message_post checked it).
        message_sudo = message.sudo()
        # Contacts only: colleagues mentioned or copied are not what the email is about.
        partners = message_sudo.partner_ids.filtered(
            lambda p: not p.user_ids.filtered(lambda u: not u.share)
        )
        if not partners:
            return self.browse()
        in_reply_to = references = False
        reply_id = self.env.context.get("crm_mail_channel_reply_email_id")
        if reply_id:
            replied = self.browse(reply_id).exists()
            if replied and replied.has_access("read"):
                headers = linking.reply_headers(replied.message_id, replied.references)
                in_reply_to = headers.get("In-Reply-To") or False
                references = headers.get("References") or False
        subject = message_sudo.subject
        if not subject and hasattr(record, "_message_compute_subject"):
            subject = record._message_compute_subject()
        message_id = identity.shorten_message_id(message_sudo.message_id)
        fingerprint = identity.posted_fingerprint(message_id, message.id)
        # sudo: the email is written by this method only, for the user who posted.
        Email = self.sudo()
        if Email.search_count([("message_id", "=", message_id)], limit=1):
            self._crm_log_identity_collision(message_id, self.env.user.login)
        is_deal = record._name == "crm.lead"
        email = Email.create(
            {
                "message_id": message_id,
                "fingerprint": fingerprint,
                "subject": subject or message_sudo.record_name,
                "date": message_sudo.date,
                "email_from": message_sudo.email_from,
                "email_to": ", ".join(p.email_formatted for p in partners if p.email),
                "partner_ids": [fields.Command.set(partners.ids)],
                "body_html": message_sudo.body,
                "preview": html2plaintext(message_sudo.body or "")[:300],
                "has_attachments": bool(message_sudo.attachment_ids),
                "in_reply_to": in_reply_to,
                "references": references,
                "thread_key": linking.thread_key(message_id, in_reply_to, references),
                "sent_from_crm": True,
                "crm_sender_user_id": self.env.uid,
                "lead_id": record.id if is_deal else False,
                "link_reason": "sent_from_deal" if is_deal else False,
            }
        )
        if not email.lead_id:
            email._apply_deal_links()
        self.env["crm.mailbox.pending.append"]._crm_queue_sent_copy(email, self.env.user)
        return email

    @api.model
    def _crm_note_unsigned(self, messages, reason):
        """Show on the emails recorded for ``messages`` why they left unsigned."""
        for message in messages:
            message_id = identity.shorten_message_id(message.message_id)
            # sudo: the sending code notes its own decision on the rows of what it sent.
            self.sudo().search(
                [
                    ("message_id", "=", message_id),
                    ("fingerprint", "=", identity.posted_fingerprint(message_id, message.id)),
                ]
            ).write({"dkim_unsigned_reason": reason})

    @api.model
    def _crm_threading_mail_values(self, message, mail_values):
        """Add In-Reply-To / References of an answer to the outgoing mail's values."""
        # sudo: the Message-ID of the message being sent, to find its own row.
        message_id = identity.shorten_message_id(message.sudo().message_id)
        # sudo: the row of this very message, found by its own placeholder fingerprint.
        email = self.sudo().search(
            [
                ("message_id", "=", message_id),
                ("fingerprint", "=", identity.posted_fingerprint(message_id, message.id)),
            ],
            limit=1,
        )
        if not email or not email.in_reply_to:
            return mail_values
        headers = {}
        if mail_values.get("headers"):
            headers = ast.literal_eval(mail_values["headers"])
        headers["In-Reply-To"] = email.in_reply_to
        mail_values["headers"] = repr(headers)
        mail_values["references"] = email.references
        return mail_values
