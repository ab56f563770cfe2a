import ast
import functools

from odoo import _, api, fields, models, tools
from odoo.exceptions import UserError
from odoo.osv import expression
from odoo.tools import SQL, html2plaintext

from crm_mail_channel_core import linking

LINK_REASONS = [
    ("thread", "Same thread"),
    ("sent_from_deal", "Sent from the deal"),
    ("single_open_deal", "Only open deal"),
    ("manual", "Set by a user"),
]


class _IntArray(fields.Field):
    """An ``int4[]`` column (sharing reader keys, issue 3), searched by crm.email only."""

    type = "integer"
    column_type = ("_int4", "int4[]")
    aggregator = None

    def convert_to_column(self, value, record, values=None, validate=True):
        return sorted({int(v) for v in value}) if value else None

    def convert_to_cache(self, value, record, validate=True):
        return tuple(sorted({int(v) for v in value})) if value else ()

    def convert_to_record(self, value, record):
        return value or ()

    def convert_to_read(self, value, record, use_display_name=True):
        return list(value or ())

    def convert_to_export(self, value, record):
        return ",".join(map(str, value or ()))


class CrmEmail(models.Model):
    """One email message, stored once whatever the number of mailboxes it sits in."""

    _name = "crm.email"
    _description = "CRM Email"
    _order = "date desc, id desc"
    _rec_name = "subject"

    message_id = fields.Char("Message-ID", required=True, index=True, readonly=True)
    # Subject, body, preview and attachments live in crm.email.content (issue 3, sharing):
    # record rules there apply the visibility level. These fields read it as the current user.
    subject = fields.Char(
        readonly=True,
        compute="_compute_subject",
        inverse="_inverse_content",
        search="_search_subject",
        compute_sudo=False,
    )
    date = fields.Datetime(index=True, readonly=True)
    email_from = fields.Char("From", readonly=True)
    email_to = fields.Char("To", readonly=True)
    email_cc = fields.Char("Cc", readonly=True)
    partner_ids = fields.Many2many(
        "res.partner",
        "crm_email_res_partner_rel",
        "email_id",
        "partner_id",
        string="Contacts",
        readonly=True,
        help="Contacts whose address is in From, To or Cc.",
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
        readonly=True,
        compute="_compute_content",
        inverse="_inverse_content",
        search="_search_preview",
        compute_sudo=False,
    )
    attachment_ids = fields.Many2many(
        "ir.attachment",
        string="Attachments",
        readonly=True,
        compute="_compute_attachment_ids",
        compute_sudo=False,
    )
    has_attachments = fields.Boolean(
        readonly=True,
        compute="_compute_content",
        inverse="_inverse_content",
        search="_search_has_attachments",
        compute_sudo=False,
    )
    in_reply_to = fields.Char(readonly=True)
    references = fields.Text(readonly=True)
    thread_key = fields.Char(
        index=True, readonly=True, help="Message-ID of the thread's first mail."
    )
    presence_ids = fields.One2many("crm.email.presence", "email_id", readonly=True)
    sent_from_crm = fields.Boolean(readonly=True, index=True)
    lead_id = fields.Many2one("crm.lead", "Deal", index=True, ondelete="set null", readonly=True)
    link_reason = fields.Selection(LINK_REASONS, readonly=True)

    # ------------------------------------------------------------------ mailbox sync (issue 2)
    is_read = fields.Boolean(
        "Read",
        compute="_compute_is_read",
        inverse="_inverse_is_read",
        search="_search_is_read",
        help="Read in your own mailbox. Changing it here changes it on the mail server too.",
    )
    my_mailbox_info = fields.Char("In my mailbox", compute="_compute_my_mailbox_info")
    in_sent = fields.Boolean(
        "Sent by me",
        compute="_compute_my_mailbox_info",
        search="_search_in_sent",
    )

    def _my_presences(self):
        return self.sudo().presence_ids.filtered(lambda p: p.user_id.id == self.env.uid)

    @api.depends_context("uid")
    @api.depends("presence_ids.is_seen")
    def _compute_is_read(self):
        for email in self:
            email.is_read = any(email._my_presences().mapped("is_seen"))

    def _search_is_read(self, operator, value):
        if operator not in ("=", "!="):
            raise NotImplementedError(operator)
        read = (operator == "=") == bool(value)
        seen_ids = (
            self.env["crm.email.presence"]
            .sudo()
            ._search([("user_id", "=", self.env.uid), ("is_seen", "=", True)])
            .subselect("email_id")
        )
        return [("id", "in" if read else "not in", seen_ids)]

    @api.depends_context("uid")
    @api.depends("presence_ids")
    def _compute_my_mailbox_info(self):
        for email in self:
            presences = email._my_presences()
            email.my_mailbox_info = (
                ", ".join(f"{p.mailbox_id.name} ({p.folder_id.name or 'INBOX'})" for p in presences)
                or False
            )
            email.in_sent = any(p.folder_role == "sent" for p in presences)

    def _search_in_sent(self, operator, value):
        if operator not in ("=", "!="):
            raise NotImplementedError(operator)
        sent_ids = (
            self.env["crm.email.presence"]
            .sudo()
            ._search([("user_id", "=", self.env.uid), ("folder_role", "=", "sent")])
            .subselect("email_id")
        )
        return [("id", "in" if (operator == "=") == bool(value) else "not in", sent_ids)]

    def _inverse_is_read(self):
        for email in self:
            email._set_read_state(email.is_read)

    def _set_read_state(self, seen):
        """Set the current user's read state and push \\Seen to the server right away.

        If the server cannot be reached the change is kept (seen_pending) and pushed at the
        next sync.
        """
        presences = self._my_presences().filtered(lambda p: p.is_seen != seen or p.seen_pending)
        if not presences:
            return
        presences.write({"is_seen": seen, "seen_pending": True})
        for mailbox in presences.mailbox_id:
            mine = presences.filtered(lambda p, m=mailbox: p.mailbox_id == m and p.uid)
            if mailbox.protocol != "imap" or not mine:
                (presences.filtered(lambda p, m=mailbox: p.mailbox_id == m)).seen_pending = False
                continue
            mailbox._push_seen(mine)

    @api.model
    def _create_from_sync(self, vals_list):
        """Create synced emails in one batch, content rows included.

        Subject and body are stored in crm.email.content; going through their (non-stored)
        inverse would create them one email at a time, so the sync creates them here at once.
        """
        content_keys = ("subject", "body_html", "preview", "has_attachments")
        contents = [{key: vals.pop(key, False) for key in content_keys} for vals in vals_list]
        emails = self.create(vals_list)
        # Performance (issue 2 benchmark): an ORM create runs the HTML sanitiser twice per
        # body (once for the column, once for the cache), the sync's largest cost. Sanitise
        # once here, with the body field's own sanitiser and options, and insert the rows in
        # one statement. Nothing unsanitised reaches the column.
        Content = self.env["crm.email.content"].sudo()
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
        if rows:
            columns = list(zip(*rows, strict=True))
            self.env.cr.execute(
                SQL(
                    """INSERT INTO crm_email_content (email_id, part, subject, body_html, preview,
                       has_attachments, create_uid, write_uid, create_date, write_date)
                   SELECT e, p, s, b, v, a, %(uid)s, %(uid)s, %(now)s, %(now)s
                   FROM unnest(%(e)s::int[], %(p)s::varchar[], %(s)s::varchar[],
                               %(b)s::text[], %(v)s::varchar[], %(a)s::bool[])
                        AS t(e, p, s, b, v, a)
                   RETURNING id""",
                    uid=self.env.uid,
                    now=self.env.cr.now(),
                    e=list(columns[0]),
                    p=list(columns[1]),
                    s=list(columns[2]),
                    b=list(columns[3]),
                    v=list(columns[4]),
                    a=list(columns[5]),
                )
            )
            created = Content.browse([row[0] for row in self.env.cr.fetchall()])
            # What an ORM create would tell the cache and the dependent computed fields.
            emails.invalidate_recordset(["content_ids"])
            created.modified(
                ["email_id", "part", "subject", "body_html", "preview", "has_attachments"],
                create=True,
            )
            for field in Content._fields.values():
                if field.store and field.compute:
                    self.env.add_to_compute(field, created)
        return emails

    def action_mark_read(self):
        self._set_read_state(True)

    def action_mark_unread(self):
        self._set_read_state(False)

    _sql_constraints = [
        ("message_id_unique", "unique(message_id)", "An email is stored once per Message-ID."),
    ]

    @api.model
    def _name_search_fields(self):
        return ["subject", "email_from"]

    # ------------------------------------------------------------------ deal linking (issue 4)
    needs_deal = fields.Boolean(
        "Needs a deal",
        readonly=True,
        index=True,
        help="Its contacts have several open deals: a person chooses which one it belongs to.",
    )

    def _crm_open_deals_by_partner(self, partners):
        """Open deals (active opportunities not won) of the given contacts, by contact id."""
        result = {}
        if not partners:
            return result
        leads = (
            self.env["crm.lead"]
            .sudo()
            .with_context(active_test=True)
            .search_fetch(
                [
                    ("partner_id", "in", partners.ids),
                    ("type", "=", "opportunity"),
                    ("stage_id.is_won", "=", False),
                ],
                ["partner_id"],
            )
        )
        for lead in leads:
            result.setdefault(lead.partner_id.id, set()).add(lead.id)
        return result

    def _apply_deal_links(self):
        """Link freshly imported emails to a deal where the link is certain.

        Called by the sync store after each batch of new emails (and after recording mail
        sent from CRM). Emails already linked, or whose link a user set, are left alone.
        One query finds the deals of every thread the batch answers, one the open deals.
        """
        emails = self.sudo().filtered(lambda e: not e.lead_id and e.link_reason != "manual")
        if not emails:
            return
        emails = emails.sorted(lambda e: (e.date or fields.Datetime.now(), e.id))
        parents = {
            ref
            for email in emails
            for ref in linking.ancestors(email.in_reply_to, email.references)
        }
        thread_links = {}
        if parents:
            for linked in self.sudo().search_fetch(
                [("message_id", "in", list(parents)), ("lead_id", "!=", False)],
                ["message_id", "lead_id"],
            ):
                thread_links[linked.message_id] = linked.lead_id.id
        single_open_deal = self._crm_link_single_open_deal()
        open_deals = self._crm_open_deals_by_partner(emails.partner_ids)
        groups = {}
        for email in emails:
            open_ids = set()
            for partner in email.partner_ids:
                open_ids |= open_deals.get(partner.id, set())
            decision = linking.decide_deal(
                message_id=email.message_id,
                in_reply_to=email.in_reply_to,
                references=email.references,
                thread_links=thread_links,
                open_lead_ids=open_ids,
                single_open_deal=single_open_deal,
            )
            if decision.lead_id:
                # A later email of the same batch may answer this one.
                thread_links[email.message_id] = decision.lead_id
            key = (decision.lead_id or False, decision.reason or False, decision.needs_deal)
            groups.setdefault(key, []).append(email.id)
            if not email.thread_key:
                email.thread_key = linking.thread_key(
                    email.message_id, email.in_reply_to, email.references
                )
        for (lead_id, reason, needs_deal), ids in groups.items():
            batch = self.sudo().browse(ids)
            vals = {"lead_id": lead_id, "link_reason": reason, "needs_deal": needs_deal}
            batch = batch.filtered(
                lambda e, v=vals: (
                    (e.lead_id.id or False, e.link_reason, e.needs_deal)
                    != (v["lead_id"], v["link_reason"], v["needs_deal"])
                )
            )
            if batch:
                batch.write(vals)

    @api.model
    def _crm_link_single_open_deal(self):
        return bool(
            self.env["ir.config_parameter"]
            .sudo()
            .get_param("crm_mail_channel.link_single_open_deal")
        )

    def _crm_thread(self):
        """Every email of this email's thread that the current user may read."""
        self.ensure_one()
        return self.search(self._crm_email_thread_domain()) | self

    def _crm_set_deal(self, lead):
        """Link these emails to ``lead`` (or unlink them when empty), as a person decided."""
        self.sudo().write(
            {
                "lead_id": lead.id or False,
                "link_reason": "manual",
                "needs_deal": False,
            }
        )

    def action_open_relink_wizard(self):
        self.ensure_one()
        self.check_access("read")
        return {
            "type": "ir.actions.act_window",
            "name": _("Deal of this email"),
            "res_model": "crm.email.relink.wizard",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": {"default_email_id": self.id},
        }

    # ------------------------------------------------------------------ sending (issue 4)
    def _crm_reply_partner(self):
        """The contact a reply goes to: the sender when a contact, else the first contact."""
        self.ensure_one()
        contacts = self.partner_ids.filtered(
            lambda p: not p.user_ids.filtered(lambda u: not u.share)
        )
        sender = tools.email_normalize(self.email_from or "")
        return contacts.filtered(lambda p: p.email_normalized == sender)[:1] or contacts[:1]

    def action_reply(self):
        """Odoo's composer, on the email's deal (or contact), answering this email."""
        self.ensure_one()
        self.check_access("read")
        partner = self._crm_reply_partner()
        record = self.lead_id if self.lead_id and self.lead_id.has_access("read") else partner
        if not record:
            raise UserError(_("This email has no contact to answer."))
        subject = self.subject or ""
        if subject and not subject.lower().startswith("re:"):
            subject = _("Re: %s", subject)
        return record._crm_composer_action(
            partners=partner,
            subject=subject,
            extra_context={"crm_mail_channel_reply_email_id": self.id},
        )

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

        The email carries the Message-ID that goes out, the recipients as contacts, the deal
        (reason "sent_from_deal") and, when it answers an email, its threading headers.
        """
        if not self._crm_is_sent_as_email(message):
            return self.browse()
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
        body_text = html2plaintext(message_sudo.body or "")
        is_deal = record._name == "crm.lead"
        vals = {
            "message_id": message_sudo.message_id,
            "subject": subject or message_sudo.record_name,
            "date": message_sudo.date,
            "email_from": message_sudo.email_from,
            "email_to": ", ".join(p.email_formatted for p in partners if p.email),
            "partner_ids": [fields.Command.set(partners.ids)],
            "body_html": message_sudo.body,
            "preview": body_text[:300],
            "has_attachments": bool(message_sudo.attachment_ids),
            "in_reply_to": in_reply_to,
            "references": references,
            "thread_key": linking.thread_key(message_sudo.message_id, in_reply_to, references),
            "sent_from_crm": True,
            "lead_id": record.id if is_deal else False,
            "link_reason": "sent_from_deal" if is_deal else False,
        }
        email = self.sudo().search([("message_id", "=", message_sudo.message_id)], limit=1)
        if email:
            email.write(vals)
        else:
            email = self.sudo().create(vals)
        if not email.lead_id:
            email._apply_deal_links()
        self.env["crm.mailbox.pending.append"]._crm_queue_sent_copy(email, self.env.user)
        return email

    @api.model
    def _crm_threading_mail_values(self, message, mail_values):
        """Add In-Reply-To / References of an answer to the outgoing mail's values."""
        email = self.sudo().search(
            [("message_id", "=", message.sudo().message_id), ("sent_from_crm", "=", True)],
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

    # ------------------------------------------------------------------ sharing (issue 3)
    # Who may read an email is decided by the record rules in
    # security/crm_mail_channel_rules.xml; nothing here filters records in Python.
    content_ids = fields.One2many("crm.email.content", "email_id", readonly=True)
    sharing_explanation = fields.Text(
        "Why can I see this?",
        compute="_compute_sharing_explanation",
        help="Who can see this email and why. Shown to its owners and to administrators.",
    )
    sharing_thread_state = fields.Selection(
        [
            ("none", "Not mine"),
            ("default", "As my sharing mode"),
            ("shared", "Thread shared"),
            ("private", "Thread private"),
        ],
        "My thread sharing",
        compute="_compute_sharing_thread_state",
    )
    _rec_names_search = ["subject", "email_from"]

    # Reader keys (issue 3, privacy and benchmark): the record rules read one stored int4[]
    # column per email instead of the relation tables above. Keys: owner user ids (> 0),
    # minus the id of each owner whose copy is shared (< 0), and 0 when sent from CRM. It is a
    # stored computed field, so every write that changes a presence's owner or is_shared (mode,
    # share switch, thread override, excluded domains, contacts) or sent_from_crm recomputes
    # it, and any query whose rules read it flushes it first (to_flush), never an eager flush
    # in _search: that one ran inside computations of the flags (fetch() searches) and stored
    # the email-level sets from stale, half-computed presence flags.
    reader_keys = _IntArray(
        "Reader keys",
        compute="_compute_reader_keys",
        store=True,
        readonly=True,
        copy=False,
        prefetch=False,
    )

    @api.depends("presence_ids.user_id", "presence_ids.is_shared", "sent_from_crm")
    def _compute_reader_keys(self):
        for email in self:
            keys = {0} if email.sent_from_crm else set()
            for presence in email.presence_ids.filtered("user_id"):
                keys.add(presence.user_id.id)
                if presence.is_shared:
                    keys.add(-presence.user_id.id)
            email.reader_keys = tuple(sorted(keys))

    def _condition_to_sql(self, alias, fname, operator, value, query):
        """SQL of the two reader-key conditions the record rules use (user id ``U``).

        ``('reader_keys', '=', U)``: U owns the email. ``('reader_keys', 'in', [U])``: U
        owns it, or it was sent from CRM, or an owner whose audience or superiors include U
        shares it. The owners sharing with U are resolved by one uncorrelated sub-select
        (audience everyone, audience users, audience groups, superiors) that PostgreSQL runs
        once per query; per row only an array overlap remains. Nothing per user is cached.
        """
        if fname == "contact_company_keys":
            column = self._field_to_sql(alias, fname, query)
            return self._contact_company_keys_sql(column, operator, value)
        if fname != "reader_keys":
            return super()._condition_to_sql(alias, fname, operator, value, query)
        column = self._field_to_sql(alias, fname, query)
        if operator == "=" and isinstance(value, int):
            return SQL("(%s @> ARRAY[%s]::int4[])", column, value)
        if operator == "in" and len(value) == 1 and isinstance(value[0], int):
            Users = self.env["res.users"]
            flush = [
                Users._fields[name]
                for name in (
                    "email_audience_everyone",
                    "email_audience_user_ids",
                    "email_audience_group_ids",
                    "email_superior_ids",
                    "groups_id",
                )
            ]
            uid = value[0]
            # A UNION ALL of four simple selects (duplicates are harmless in an overlap): half
            # the planning time of one scan of res_users with three correlated EXISTS.
            sharers = SQL(
                """SELECT -u.id FROM res_users u WHERE u.email_audience_everyone
                   UNION ALL
                   SELECT -a.user_id FROM res_users_email_audience_user_rel a
                    WHERE a.audience_user_id = %(uid)s
                   UNION ALL
                   SELECT -s.user_id FROM res_users_email_superior_rel s
                    WHERE s.superior_id = %(uid)s
                   UNION ALL
                   SELECT -g.user_id FROM res_users_email_audience_group_rel g
                     JOIN res_groups_users_rel gu ON gu.gid = g.group_id
                    WHERE gu.uid = %(uid)s""",
                uid=uid,
            )
            for field in flush:
                sharers = SQL("%s", sharers, to_flush=field)
            return SQL(
                "(%s && (ARRAY[%s, 0] || ARRAY(%s))::int4[])",
                column,
                uid,
                sharers,
            )
        raise NotImplementedError(f"reader_keys {operator} {value!r}")

    # Contact and deal keys (issue 3, benchmark): the "contact I can open" and "deal I can
    # open" rule conditions read these stored columns of the email row instead of the contact
    # relation, the contacts and the deal. Kept in sync by the ORM (depends), so a change of a
    # contact's company or share flag, or of the deal's salesperson or company, is seen by the
    # next query (stored fields are flushed before any query that reads them).
    # contact_company_keys: per contact, 0 when anybody may open it (internal user's partner or
    # no company), else its company id. Searched only by the rules, as
    # ('contact_company_keys', 'parent_of', company_ids): a contact of one of my companies or
    # of a parent company of one of them, exactly res.partner's multi-company rule.
    contact_company_keys = _IntArray(
        "Contact company keys",
        compute="_compute_contact_company_keys",
        store=True,
        readonly=True,
        copy=False,
        prefetch=False,
    )
    lead_company_id = fields.Many2one(
        "res.company",
        "Deal company",
        related="lead_id.company_id",
        store=True,
        readonly=True,
    )
    lead_user_id = fields.Many2one(
        "res.users",
        "Deal salesperson",
        related="lead_id.user_id",
        store=True,
        readonly=True,
    )

    def init(self):
        # Every column the record rules read, next to the id: a rule-checked search on ids
        # found elsewhere (a company's emails, the access check of a page) is an index-only
        # scan instead of one table row read per email.
        self.env.cr.execute(
            SQL(
                """CREATE INDEX IF NOT EXISTS crm_email_rule_keys_index ON crm_email (id)
               INCLUDE (reader_keys, lead_id, contact_company_keys, lead_company_id,
                        lead_user_id)"""
            )
        )

    @api.depends("partner_ids.partner_share", "partner_ids.company_id")
    def _compute_contact_company_keys(self):
        for email in self:
            email.contact_company_keys = tuple(
                sorted(
                    {
                        partner.company_id.id if partner.partner_share and partner.company_id else 0
                        for partner in email.sudo().with_context(active_test=False).partner_ids
                    }
                )
            )

    def _contact_company_keys_sql(self, column, operator, value):
        if operator != "parent_of" or not isinstance(value, (list, tuple)):
            raise NotImplementedError(f"contact_company_keys {operator} {value!r}")
        # Same set as ('company_id', 'parent_of', company_ids) on res.partner (the companies'
        # parent_path labels), plus 0; an uncorrelated sub-select run once per query.
        Company = self.env["res.company"]
        ancestors = SQL(
            """SELECT label::int4 FROM res_company c,
                      unnest(string_to_array(rtrim(c.parent_path, '/'), '/')) AS label
                WHERE c.id = ANY(%s::int4[])""",
            [id_ for id_ in value if id_],
            to_flush=Company._fields["parent_path"],
        )
        return SQL("(%s && (ARRAY[0] || ARRAY(%s))::int4[])", column, ancestors)

    # -- performance of the sharing rules (issue 3, benchmark) --------------------------------
    # Emails of a company and its contacts (what ``partner_ids child_of company`` finds). The
    # search resolves the matching ids in one array sub-select: PostgreSQL then reads them
    # through the relation index and sorts a few hundred rows, instead of walking the whole
    # date index to find the first page (child_of on a many2many is a correlated EXISTS).
    partner_ancestor_ids = fields.Many2many(
        "res.partner",
        string="Contacts and their companies",
        compute="_compute_partner_ancestor_ids",
        search="_search_partner_ancestor_ids",
        help="The email's contacts and every partner above them (company, parent contact).",
    )

    @api.depends("partner_ids.parent_id")
    def _compute_partner_ancestor_ids(self):
        for email in self:
            found = partners = email.partner_ids.sudo()
            while partners:
                partners = partners.parent_id - found
                found |= partners
            email.partner_ancestor_ids = found.sudo(False)

    def _search_partner_ancestor_ids(self, operator, value):
        if operator not in ("in", "="):
            raise NotImplementedError(operator)
        ids = [value] if isinstance(value, int) else list(value or [])
        # Same expansion as ``child_of`` (as the current user, archived included).
        partners = (
            self.env["res.partner"]
            .with_context(active_test=False)
            ._search([("id", "child_of", ids)])
        )
        self.flush_model(["partner_ids"])
        return [
            (
                "id",
                "=",
                SQL(
                    "ANY(ARRAY(SELECT rel.email_id FROM crm_email_res_partner_rel rel"
                    " WHERE rel.partner_id IN %s))",
                    partners.subselect(),
                ),
            )
        ]

    def _check_access(self, operation):
        # Record-level checks (read of non-stored fields, check_access) evaluate the same rule
        # domain as every search, in SQL on these ids, instead of Odoo's default Python
        # evaluation (filtered_domain), which loads every relation the rules mention (owners,
        # shared owners, their audiences and superiors, contacts, deals): a dozen queries per
        # page. Same rules, same result; no filtering outside the rules.
        return _check_access_in_sql(self, operation, super()._check_access)

    def _readable_content(self, part):
        """``{email id: content row}`` of ``part`` that the current user may read (rules)."""
        real = self.filtered("id")
        # search_fetch: the rows and their values in one rule-checked query (issue 3 bench).
        fnames = (
            ["email_id", "subject"]
            if part == "subject"
            else [
                "email_id",
                "body_html",
                "preview",
                "has_attachments",
            ]
        )
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
            email.subject = subjects[email.id].subject if email.id in subjects else False

    @api.depends_context("uid")
    @api.depends("content_ids.body_html", "content_ids.preview", "content_ids.has_attachments")
    def _compute_content(self):
        bodies = self._readable_content("body")
        for email in self:
            body = bodies.get(email.id)
            email.body_html = body.body_html if body else False
            email.preview = body.preview if body else False
            email.has_attachments = body.has_attachments if body else False

    @api.depends_context("uid")
    @api.depends("content_ids.attachment_ids")
    def _compute_attachment_ids(self):
        bodies = self._readable_content("body")
        for email in self:
            body = bodies.get(email.id)
            email.attachment_ids = body.attachment_ids if body else False

    def _inverse_content(self):
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
        for email in self:
            email.display_name = email.subject or _(
                "Email from %(sender)s",
                sender=email.email_from or "?",
            )

    def _crm_email_thread_domain(self):
        self.ensure_one()
        key = self.thread_key or self.message_id
        return ["|", ("thread_key", "=", key), ("message_id", "=", key)]

    @api.depends_context("uid")
    @api.depends("presence_ids.share_override")
    def _compute_sharing_thread_state(self):
        for email in self:
            mine = email.sudo().presence_ids.filtered(lambda p: p.user_id.id == self.env.uid)
            email.sharing_thread_state = mine[:1].share_override if mine else "none"

    def _set_thread_sharing(self, value):
        """Share or make private the current user's copies of these emails' threads.

        The choice is stored on every presence of the owner in the thread and inherited by
        mail of the thread imported later.
        """
        Presence = self.env["crm.email.presence"].sudo()
        for email in self:
            thread = self.sudo().search(email._crm_email_thread_domain()) | email.sudo()
            mine = Presence.search([("email_id", "in", thread.ids), ("user_id", "=", self.env.uid)])
            if not mine:
                raise UserError(_("Only the owner of this email can change who sees its thread."))
            mine.write({"share_override": value})
        return True

    def action_share_thread(self):
        return self._set_thread_sharing("shared")

    def action_make_thread_private(self):
        return self._set_thread_sharing("private")

    def action_reset_thread_sharing(self):
        return self._set_thread_sharing("default")

    def _crm_sharing_partners_changed(self):
        """Call after contact links were added with SQL: updates contact-based sharing."""
        emails = self.sudo()
        emails.invalidate_recordset(["partner_ids"])
        emails.modified(["partner_ids"])
        self.env["crm.email.presence"].flush_model()

    @api.depends_context("uid")
    def _compute_sharing_explanation(self):
        user = self.env.user
        is_admin = user._is_admin()
        level = self.env["crm.email.content"]._audience_parts()
        level_text = {
            ("subject", "body"): self.env._("Colleagues see everything."),
            ("subject",): self.env._("Colleagues see the subject and participants, not the body."),
            (): self.env._("Colleagues see only participants and date."),
        }[tuple(level)]
        for email in self:
            sudo_email = email.sudo()
            presences = sudo_email.presence_ids
            if not (is_admin or user in presences.user_id):
                email.sharing_explanation = False
                continue
            lines = []
            for owner in presences.user_id:
                lines.append(self.env._("%(owner)s: owner, sees everything.", owner=owner.name))
            if sudo_email.lead_id:
                record = self.env._("who can open the deal %(deal)s", deal=sudo_email.lead_id.name)
            else:
                record = self.env._("who can open one of its contacts")
            if sudo_email.sent_from_crm:
                lines.append(
                    self.env._(
                        "Sent from CRM: shared with everyone %(record)s.",
                        record=record,
                    )
                )
            done = set()
            for presence in presences:
                owner = presence.user_id
                if owner.id in done:
                    continue
                done.add(owner.id)
                reason = presence._sharing_reason()
                if not presence.is_shared:
                    lines.append(
                        self.env._(
                            "Not shared by %(owner)s: %(reason)s.", owner=owner.name, reason=reason
                        )
                    )
                    continue
                if owner.email_audience_everyone:
                    audience = self.env._("everyone %(record)s", record=record)
                else:
                    names = owner.email_audience_user_ids.mapped("name")
                    for group in owner.email_audience_group_ids:
                        names.append(self.env._("group %s", group.full_name))
                    audience = self.env._(
                        "%(names)s, %(record)s",
                        names=", ".join(names),
                        record=record,
                    )
                lines.append(
                    self.env._(
                        "Shared by %(owner)s (%(reason)s) with %(audience)s.",
                        owner=owner.name,
                        reason=reason,
                        audience=audience,
                    )
                )
                if owner.email_superior_ids:
                    lines.append(
                        self.env._(
                            "Managers of %(owner)s: %(names)s (%(record)s).",
                            owner=owner.name,
                            names=", ".join(owner.email_superior_ids.mapped("name")),
                            record=record,
                        )
                    )
            lines.append(level_text)
            email.sharing_explanation = "\n".join(lines)


def _check_access_in_sql(records, operation, base):
    """``Model._check_access`` with the record rules evaluated by PostgreSQL (issue 3).

    Used by crm.email and crm.email.content. Falls back to Odoo's own implementation for new
    records and for ids that no longer exist (which must raise MissingError as usual).
    """
    ids = records._ids
    if records.env.su or not ids or not all(isinstance(id_, int) for id_ in ids):
        return base(operation)
    if not records.env["ir.model.access"].check(records._name, operation, raise_exception=False):
        return base(operation)
    Rule = records.env["ir.rule"]
    domain = Rule._compute_domain(records._name, operation)
    if not domain:
        return None
    allowed = set(
        records.sudo()
        .with_context(active_test=False)
        ._search(expression.AND([[("id", "in", list(set(ids)))], domain]))
    )
    forbidden = records.browse([id_ for id_ in ids if id_ not in allowed])
    if not forbidden:
        return None
    if len(forbidden.exists()) != len(set(forbidden._ids)):
        return base(operation)
    return forbidden, functools.partial(Rule._make_access_error, operation, forbidden)
