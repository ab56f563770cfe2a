import logging

from odoo import SUPERUSER_ID, api, fields, models

from .orm_seams import insert_created_rows

_logger = logging.getLogger(__name__)


class CrmEmail(models.Model):
    """One email message, stored once per distinct content whatever the number of mailboxes.

    Split by capability over several files: storage and identity here, then read state
    (``crm_email_read_state.py``), deal linking (``crm_email_linking.py``), sending
    (``crm_email_sending.py``) and sharing (``crm_email_sharing.py``).
    """

    _name = "crm.email"
    _inherit = ["crm.mail.write.guard"]
    _description = "CRM Email"
    _order = "date desc, id desc"
    _rec_name = "subject"
    _rec_names_search = ["subject", "email_from"]
    # The read state changes only the user's own copy (see crm_email_read_state.py).
    _crm_user_writable_fields = frozenset({"is_read"})

    # Identity: one row per (Message-ID, content fingerprint), see crm_mail_channel_core.identity
    message_id = fields.Char("Message-ID", required=True, index=True, readonly=True)
    fingerprint = fields.Char(
        "Content fingerprint",
        required=True,
        readonly=True,
        copy=False,
        groups="base.group_system",
    )
    # Headers
    date = fields.Datetime("Date", index=True, readonly=True)
    email_from = fields.Char("From", readonly=True)
    email_to = fields.Char("To", readonly=True)
    email_cc = fields.Char("Cc", readonly=True)
    in_reply_to = fields.Char(readonly=True)
    references = fields.Text(readonly=True)
    thread_key = fields.Char(
        index=True, readonly=True, help="Message-ID of the thread's first mail."
    )
    # Contacts and mailboxes
    partner_ids = fields.Many2many(
        "res.partner",
        "crm_email_res_partner_rel",
        "email_id",
        "partner_id",
        string="Contacts",
        readonly=True,
        help="Contacts whose address is in From, To or Cc.",
    )
    presence_ids = fields.One2many("crm.email.presence", "email_id", readonly=True)
    # Content: subject, body and attachments live in crm.email.content, whose record rules
    # apply the visibility level; these fields read it as the current user.
    content_ids = fields.One2many("crm.email.content", "email_id", readonly=True)
    subject = fields.Char(
        "Subject",
        readonly=True,
        compute="_compute_subject",
        inverse="_inverse_content",
        search="_search_subject",
        compute_sudo=False,
    )
    body_html = fields.Html(
        "Body",
        sanitize=True,
        sanitize_style=True,
        readonly=True,
        compute="_compute_content",
        inverse="_inverse_content",
        search="_search_body_html",
        compute_sudo=False,
    )
    preview = fields.Char(
        "Preview",
        readonly=True,
        compute="_compute_content",
        inverse="_inverse_content",
        search="_search_preview",
        compute_sudo=False,
    )
    has_attachments = fields.Boolean(
        readonly=True,
        compute="_compute_content",
        inverse="_inverse_content",
        search="_search_has_attachments",
        compute_sudo=False,
    )
    attachment_ids = fields.Many2many(
        "ir.attachment",
        string="Attachments",
        readonly=True,
        compute="_compute_attachment_ids",
        compute_sudo=False,
    )

    _sql_constraints = [
        (
            "message_fingerprint_unique",
            "unique(message_id, fingerprint)",
            "An email is stored once per Message-ID and content.",
        ),
    ]

    # ------------------------------------------------------------------ content
    def _readable_content(self, part):
        """``{email id: content row}`` of ``part`` that the current user may read (rules)."""
        # _origin: a form being edited holds new records that stand for stored ones.
        real = self._origin.filtered("id")
        fnames = (
            ["email_id", "subject"]
            if part == "subject"
            else ["email_id", "body_html", "preview", "has_attachments"]
        )
        # One rule-checked query for the rows and their values.
        contents = self.env["crm.email.content"].search_fetch(
            [("email_id", "in", real.ids), ("part", "=", part)],
            fnames,
        )
        return {content.email_id.id: content for content in contents}

    @api.depends_context("uid")
    @api.depends("content_ids.subject")
    def _compute_subject(self):
        subjects = self._readable_content("subject")
        for email in self:
            subject = subjects.get(email._origin.id)
            email.subject = subject.subject if subject else False

    @api.depends_context("uid")
    @api.depends("content_ids.body_html", "content_ids.preview", "content_ids.has_attachments")
    def _compute_content(self):
        bodies = self._readable_content("body")
        for email in self:
            body = bodies.get(email._origin.id)
            email.body_html = body.body_html if body else False
            email.preview = body.preview if body else False
            email.has_attachments = body.has_attachments if body else False

    @api.depends_context("uid")
    @api.depends("content_ids.attachment_ids")
    def _compute_attachment_ids(self):
        bodies = self._readable_content("body")
        for email in self:
            body = bodies.get(email._origin.id)
            email.attachment_ids = body.attachment_ids if body else False

    def _inverse_content(self):
        # Reached only in superuser mode: write() refuses these fields otherwise.
        Content = self.env["crm.email.content"]
        existing = Content.search([("email_id", "in", self.ids)])
        by_key = {(content.email_id.id, content.part): content for content in existing}
        to_create = []
        for email in self:
            parts = {
                "subject": {"subject": email.subject or False},
                "body": {
                    "body_html": email.body_html or False,
                    "preview": email.preview or False,
                    "has_attachments": bool(email.has_attachments),
                },
            }
            for part, vals in parts.items():
                content = by_key.get((email.id, part))
                if not content:
                    to_create.append({"email_id": email.id, "part": part, **vals})
                elif any(content[name] != value for name, value in vals.items()):
                    content.write(vals)
        if to_create:
            Content.create(to_create)

    def _search_subject(self, operator, value):
        # The sub-search runs as the current user, so crm.email.content's rules apply.
        return [("content_ids", "any", [("part", "=", "subject"), ("subject", operator, value)])]

    def _search_body_html(self, operator, value):
        return [("content_ids", "any", [("part", "=", "body"), ("body_html", operator, value)])]

    def _search_preview(self, operator, value):
        return [("content_ids", "any", [("part", "=", "body"), ("preview", operator, value)])]

    def _search_has_attachments(self, operator, value):
        return [
            ("content_ids", "any", [("part", "=", "body"), ("has_attachments", operator, value)])
        ]

    @api.depends_context("uid")
    @api.depends("subject", "email_from")
    def _compute_display_name(self):
        # Odoo reads many2one names in superuser mode (read, web_read, onchange): the subject
        # shown must still be the one the user may read.
        emails = self
        if self.env.su and self.env.uid != SUPERUSER_ID:
            emails = self.with_env(self.env(su=False))
        for email, as_user in zip(self, emails, strict=True):
            email.display_name = as_user.subject or self.env._(
                "Email from %(sender)s",
                sender=email.email_from or "?",
            )

    # ------------------------------------------------------------------ storage
    @api.model
    def _create_from_sync(self, vals_list):
        """Create synced emails in one batch, content rows included (superuser mode).

        Subject and body go to crm.email.content; through their non-stored inverse they would
        be created one email at a time, and an ORM create runs the HTML sanitiser twice per
        body, the sync's largest cost. The body is sanitised once here with the body field's
        own sanitiser and options, and the rows inserted at once: nothing unsanitised reaches
        the column.
        """
        content_keys = ("subject", "body_html", "preview", "has_attachments")
        contents = [{key: vals.pop(key, False) for key in content_keys} for vals in vals_list]
        emails = self.create(vals_list)
        Content = self.env["crm.email.content"]
        body_field = Content._fields["body_html"]
        rows = []
        for email, content in zip(emails, contents, strict=True):
            body = content["body_html"]
            body = body_field.convert_to_cache(body, Content) if body else None
            subject, preview = (
                None if content[key] is False else content[key] for key in ("subject", "preview")
            )
            rows.append((email.id, "subject", subject, None, None, None))
            rows.append((email.id, "body", None, body, preview, bool(content["has_attachments"])))
        columns = ("email_id", "part", "subject", "body_html", "preview", "has_attachments")
        insert_created_rows(Content, columns, rows)
        emails.invalidate_recordset(["content_ids"])
        return emails

    @api.model
    def _crm_log_identity_collision(self, message_id, mailbox_or_user):
        _logger.warning(
            "Message-ID collision: %s already belongs to an email with other content; "
            "stored as a separate email for %s",
            message_id,
            mailbox_or_user,
        )
