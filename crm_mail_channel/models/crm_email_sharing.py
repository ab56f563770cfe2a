from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.osv import expression
from odoo.tools import SQL

from crm_mail_channel_core import sharing_domains

from .orm_seams import IntArrayField, check_access_in_sql

# Fields of res.users the reader-key sub-select reads (flushed before it runs).
SHARER_FIELDS = (
    "email_audience_everyone",
    "email_audience_user_ids",
    "email_audience_group_ids",
    "email_superior_ids",
    "groups_id",
)


class CrmEmail(models.Model):
    """Who may read an email: stored keys for the record rules, and their explanation.

    The decision itself is made by the record rules in security/crm_mail_channel_rules.xml;
    nothing here filters records in Python.
    """

    _inherit = "crm.email"

    # Keys read by the record rules. reader_keys: owner user ids (> 0), minus the id of each
    # owner whose copy is shared (< 0), and 0 when sent from CRM to a customer. Stored and
    # recomputed by every write that changes an owner, a share flag or sent_from_crm; a query
    # whose rules read it flushes it first.
    reader_keys = IntArrayField(
        "Reader keys",
        compute="_compute_reader_keys",
        store=True,
        readonly=True,
        copy=False,
        prefetch=False,
        groups="base.group_system",
    )
    # Per contact, 0 when anybody may open it (internal user's partner or no company), else
    # its company id: the rules' "a contact I can open", without joining the contacts.
    contact_company_keys = IntArrayField(
        "Contact company keys",
        compute="_compute_contact_company_keys",
        store=True,
        readonly=True,
        copy=False,
        prefetch=False,
        groups="base.group_system",
    )
    # Mail among colleagues only stays with its owner, whatever the sharing settings.
    is_colleague_mail = fields.Boolean(
        "Between colleagues",
        compute="_compute_is_colleague_mail",
        store=True,
        readonly=True,
        help="Every participant is a user of this database or at one of the company's own "
        "domains: such mail is never shared.",
    )
    # The email's contacts and every partner above them (company, parent contact)
    partner_ancestor_ids = fields.Many2many(
        "res.partner",
        string="Contacts and their companies",
        compute="_compute_partner_ancestor_ids",
        search="_search_partner_ancestor_ids",
    )
    # Explanations for the current user
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

    # ------------------------------------------------------------------ stored keys
    @api.depends(
        "presence_ids.user_id", "presence_ids.is_shared", "sent_from_crm", "is_colleague_mail"
    )
    def _compute_reader_keys(self):
        for email in self:
            keys = {0} if email.sent_from_crm and not email.is_colleague_mail else set()
            for presence in email.presence_ids.filtered("user_id"):
                keys.add(presence.user_id.id)
                if presence.is_shared:
                    keys.add(-presence.user_id.id)
            email.reader_keys = tuple(sorted(keys))

    @api.depends("partner_ids.partner_share", "partner_ids.company_id")
    def _compute_contact_company_keys(self):
        for email in self:
            partners = email.with_context(active_test=False).partner_ids
            email.contact_company_keys = tuple(
                sorted(
                    {
                        partner.company_id.id if partner.partner_share and partner.company_id else 0
                        for partner in partners
                    }
                )
            )

    @api.depends("email_from", "email_to", "email_cc")
    def _compute_is_colleague_mail(self):
        colleagues = self.env["res.company"]._crm_colleague_definition()
        for email in self:
            participants = sharing_domains.addresses_of(
                email.email_from, email.email_to, email.email_cc
            )
            email.is_colleague_mail = sharing_domains.is_colleague_mail(participants, *colleagues)

    @api.model
    def _crm_recompute_colleague_mail(self, domains=None, addresses=None):
        """Re-evaluate stored mail after the company's domains or its users changed.

        Only emails naming one of ``domains`` or ``addresses`` are concerned (all when both
        are None).
        """
        terms = [f"@{d}" for d in domains or ()] + list(addresses or ())
        if (domains is not None or addresses is not None) and not terms:
            return
        domain = []
        for term in terms:
            domain = expression.OR(
                [
                    domain,
                    [
                        "|",
                        "|",
                        ("email_from", "ilike", term),
                        ("email_to", "ilike", term),
                        ("email_cc", "ilike", term),
                    ],
                ]
            )
        # sudo: a recomputation of stored flags, no user data returned.
        emails = self.sudo().search(domain or [("id", "!=", False)])
        if not emails:
            return
        self.env.add_to_compute(self._fields["is_colleague_mail"], emails)
        emails.modified(["is_colleague_mail"])
        self.env.flush_all()

    def _condition_to_sql(self, alias, fname, operator, value, query):
        """SQL of the record rules' array conditions (orm_seams, seam 2).

        ``('reader_keys', '=', U)``: U owns the email. ``('reader_keys', 'in', [U])``: U owns
        it, or it was sent from CRM, or an owner whose audience or superiors include U shares
        it: the owners sharing with U come from one uncorrelated sub-select run once per query,
        so per row only an array overlap remains and nothing per user is cached.
        ``('contact_company_keys', 'parent_of', company_ids)``: a contact of one of the user's
        companies or of a parent company, exactly res.partner's multi-company rule.
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
            Users = self.env["res.users"]
            for name in SHARER_FIELDS:
                sharers = SQL("%s", sharers, to_flush=Users._fields[name])
            return SQL("(%s && (ARRAY[%s, 0] || ARRAY(%s))::int4[])", column, uid, sharers)
        raise NotImplementedError(f"reader_keys {operator} {value!r}")

    def _contact_company_keys_sql(self, column, operator, value):
        if operator != "parent_of" or not isinstance(value, (list, tuple)):
            raise NotImplementedError(f"contact_company_keys {operator} {value!r}")
        # Same set as ('company_id', 'parent_of', company_ids) on res.partner (the companies'
        # parent_path labels), plus 0; an uncorrelated sub-select run once per query.
        ancestors = SQL(
            """SELECT label::int4 FROM res_company c,
                      unnest(string_to_array(rtrim(c.parent_path, '/'), '/')) AS label
                WHERE c.id = ANY(%s::int4[])""",
            [id_ for id_ in value if id_],
            to_flush=self.env["res.company"]._fields["parent_path"],
        )
        return SQL("(%s && (ARRAY[0] || ARRAY(%s))::int4[])", column, ancestors)

    def _check_access(self, operation):
        # The rules evaluated in SQL instead of Python (orm_seams, seam 3): Odoo's Python
        # evaluation loads every relation the rules mention, a dozen queries per page.
        return check_access_in_sql(self, operation, super()._check_access)

    def _crm_sharing_partners_changed(self):
        """Call after contact links were added with SQL: updates contact-based sharing."""
        # sudo: cache invalidation and recomputation of stored flags only.
        emails = self.sudo()
        emails.invalidate_recordset(["partner_ids"])
        emails.modified(["partner_ids"])
        self.env["crm.email.presence"].flush_model()

    # ------------------------------------------------------------------ company and contacts
    @api.depends("partner_ids.parent_id")
    def _compute_partner_ancestor_ids(self):
        for email in self:
            # sudo: walking up to parent companies; the result is shown as the current user.
            found = partners = email.partner_ids.sudo()
            while partners:
                partners = partners.parent_id - found
                found |= partners
            email.partner_ancestor_ids = found.sudo(False)  # sudo: back to the current user.

    def _search_partner_ancestor_ids(self, operator, value):
        """Emails of these partners and everyone below them (what ``child_of`` finds).

        The matching ids come from one array sub-select, so PostgreSQL reads them through the
        relation index and sorts a few hundred rows instead of walking the whole date index.
        """
        if operator not in ("in", "="):
            raise NotImplementedError(operator)
        ids = [value] if isinstance(value, int) else list(value or [])
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

    @api.depends_context("uid")
    def _compute_sharing_explanation(self):
        user = self.env.user
        is_admin = user._is_admin()
        level = self.env["crm.email.content"]._audience_parts()
        level_text = {
            ("subject", "body"): self.env._("Those it is shared with see everything."),
            ("subject",): self.env._(
                "Those it is shared with see the subject and participants, not the body."
            ),
            (): self.env._("Those it is shared with see only the participants and the date."),
        }[tuple(level)]
        for email in self:
            # sudo: shown only to the email's owners and admins (checked below).
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
            shared = False
            if sudo_email.is_colleague_mail:
                lines.append(
                    self.env._("Mail between colleagues: never shared, only its owners see it.")
                )
            elif sudo_email.sent_from_crm:
                shared = True
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
                    if not sudo_email.is_colleague_mail:
                        lines.append(
                            self.env._(
                                "Not shared by %(owner)s (%(reason)s).",
                                owner=owner.name,
                                reason=reason,
                            )
                        )
                    continue
                shared = True
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
            if shared:
                lines.append(level_text)
            email.sharing_explanation = "\n".join(lines)

    # ------------------------------------------------------------------ owner's choices
    @api.depends_context("uid")
    @api.depends("presence_ids.share_override")
    def _compute_sharing_thread_state(self):
        for email in self:
            mine = email._my_presences()
            email.sharing_thread_state = mine[:1].share_override if mine else "none"

    def _set_thread_sharing(self, value):
        """Share or make private the current user's copies of these emails' threads.

        The choice is stored on every presence of the owner in the thread and inherited by
        mail of the thread imported later. Only the current user's own copies change.
        """
        # sudo: only presences owned by the current user are written (domain below).
        Presence = self.env["crm.email.presence"].sudo()
        for email in self:
            email.check_access("read")
            thread = email._crm_thread()
            mine = Presence.search([("email_id", "in", thread.ids), ("user_id", "=", self.env.uid)])
            if not mine:
                raise UserError(
                    self.env._("Only the owner of this email can change who sees its thread.")
                )
            mine.write({"share_override": value})
        return True

    def action_share_thread(self):
        return self._set_thread_sharing("shared")

    def action_make_thread_private(self):
        return self._set_thread_sharing("private")

    def action_reset_thread_sharing(self):
        return self._set_thread_sharing("default")
